package apisix

import (
	"encoding/json"
	"fmt"
	"net/netip"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/internal/A6"
	eipb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/ExtraInfo"
	reqpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPReqCall"
	resppb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPRespCall"
	pcpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/PrepareConf"
)

// KV is one A6.TextEntry. NoValue makes the value absent on the wire, which
// differs from an empty value: in a request it is a query argument without
// '=', in a Rewrite it deletes. In JSON a KV is {"name": N, "value": V},
// with the "value" key left out when NoValue is set.
type KV struct {
	Name    string
	Value   string
	NoValue bool
}

type jsonKV struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

// MarshalJSON renders kv as {"name": …, "value": …}, without "value" when
// kv.NoValue.
func (kv KV) MarshalJSON() ([]byte, error) {
	j := jsonKV{Name: kv.Name}
	if !kv.NoValue {
		j.Value = &kv.Value
	}
	return json.Marshal(j)
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (kv *KV) UnmarshalJSON(b []byte) error {
	var j jsonKV
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*kv = KV{Name: j.Name, NoValue: j.Value == nil}
	if j.Value != nil {
		kv.Value = *j.Value
	}
	return nil
}

// KVs returns entries with values from alternating names and values. It
// panics on an odd number of arguments.
func KVs(nameValue ...string) []KV {
	if len(nameValue)%2 != 0 {
		panic("apisix: KVs needs name/value pairs")
	}
	kvs := make([]KV, 0, len(nameValue)/2)
	for i := 0; i < len(nameValue); i += 2 {
		kvs = append(kvs, KV{Name: nameValue[i], Value: nameValue[i+1]})
	}
	return kvs
}

// ReqCall is an HTTPReqCall request as APISIX sends it.
type ReqCall struct {
	ID        uint32 `json:"id,omitempty"`
	ConfToken uint32 `json:"conf_token,omitempty"`
	// Method is an HTTP method name of the A6.Method enum; "" means GET.
	Method string `json:"method,omitempty"`
	// Path is always sent, even when empty, as APISIX does.
	Path string `json:"path,omitempty"`
	// SrcIP is sent as 4 bytes for an IPv4 address and 16 bytes otherwise;
	// the zero Addr leaves src_ip absent.
	SrcIP netip.Addr `json:"src_ip,omitzero"`
	// Args and Headers: nil leaves the field absent, a non-nil empty slice
	// sends an empty vector.
	Args    []KV `json:"args,omitempty"`
	Headers []KV `json:"headers,omitempty"`
}

// RespCall is an HTTPRespCall request as APISIX sends it.
type RespCall struct {
	ID        uint32 `json:"id,omitempty"`
	ConfToken uint32 `json:"conf_token,omitempty"`
	// Status is the upstream status, 0–65535.
	Status int `json:"status,omitempty"`
	// Headers: nil leaves the field absent.
	Headers []KV `json:"headers,omitempty"`
}

// Answers is a fixed set of ExtraInfo answers; its Answer method is an
// AnswerFunc. A nil map entry or nil body is answered as absent.
type Answers struct {
	Vars     map[string]string `json:"vars,omitempty"`
	ReqBody  *string           `json:"req_body,omitempty"`
	RespBody *string           `json:"resp_body,omitempty"`
}

// Answer answers q from a. A nil *Answers answers every question as absent.
func (a *Answers) Answer(q Question) ([]byte, bool) {
	if a == nil {
		return nil, false
	}
	var s *string
	switch q.Kind {
	case KindVar:
		if v, ok := a.Vars[q.Name]; ok {
			s = &v
		}
	case KindReqBody:
		s = a.ReqBody
	case KindRespBody:
		s = a.RespBody
	}
	if s == nil {
		return nil, false
	}
	return []byte(*s), true
}

// entries builds a vector of TextEntry tables; nil gives no vector (0).
func entries(b *flatbuffers.Builder, kvs []KV) flatbuffers.UOffsetT {
	if kvs == nil {
		return 0
	}
	offs := make([]flatbuffers.UOffsetT, len(kvs))
	for i, kv := range kvs {
		name := b.CreateString(kv.Name)
		var value flatbuffers.UOffsetT
		if !kv.NoValue {
			value = b.CreateString(kv.Value)
		}
		A6.TextEntryStart(b)
		A6.TextEntryAddName(b, name)
		if !kv.NoValue {
			A6.TextEntryAddValue(b, value)
		}
		offs[i] = A6.TextEntryEnd(b)
	}
	b.StartVector(4, len(offs), 4)
	for i := len(offs) - 1; i >= 0; i-- {
		b.PrependUOffsetT(offs[i])
	}
	return b.EndVector(len(offs))
}

// EncodePrepareConf returns the payload of a PrepareConf request. No conf
// entries leave the conf field absent, as APISIX does for a plugin config
// without "conf".
func EncodePrepareConf(key string, conf ...KV) []byte {
	b := flatbuffers.NewBuilder(256)
	c := entries(b, conf)
	k := b.CreateString(key)
	pcpb.ReqStart(b)
	if c != 0 {
		pcpb.ReqAddConf(b, c)
	}
	pcpb.ReqAddKey(b, k)
	b.Finish(pcpb.ReqEnd(b))
	return b.FinishedBytes()
}

// EncodeReqCall returns the payload of an HTTPReqCall request. Scalars equal
// to their default (id 0, GET) are left out, as APISIX's Lua builder does.
func EncodeReqCall(r ReqCall) ([]byte, error) {
	method := protocol.Method(0)
	if r.Method != "" {
		m, ok := protocol.ParseMethod(r.Method)
		if !ok {
			return nil, fmt.Errorf("apisix: method %q has no A6.Method value", r.Method)
		}
		method = m
	}
	b := flatbuffers.NewBuilder(512)
	var ip flatbuffers.UOffsetT
	if r.SrcIP.Is4() {
		a := r.SrcIP.As4()
		ip = b.CreateByteVector(a[:])
	} else if r.SrcIP.IsValid() {
		a := r.SrcIP.As16()
		ip = b.CreateByteVector(a[:])
	}
	path := b.CreateString(r.Path)
	args := entries(b, r.Args)
	headers := entries(b, r.Headers)
	reqpb.ReqStart(b)
	reqpb.ReqAddId(b, r.ID)
	if ip != 0 {
		reqpb.ReqAddSrcIp(b, ip)
	}
	reqpb.ReqAddMethod(b, A6.Method(method))
	reqpb.ReqAddPath(b, path)
	if args != 0 {
		reqpb.ReqAddArgs(b, args)
	}
	if headers != 0 {
		reqpb.ReqAddHeaders(b, headers)
	}
	reqpb.ReqAddConfToken(b, r.ConfToken)
	b.Finish(reqpb.ReqEnd(b))
	return b.FinishedBytes(), nil
}

// EncodeRespCall returns the payload of an HTTPRespCall request.
func EncodeRespCall(r RespCall) ([]byte, error) {
	if r.Status < 0 || r.Status > 0xFFFF {
		return nil, fmt.Errorf("apisix: status %d does not fit uint16", r.Status)
	}
	b := flatbuffers.NewBuilder(512)
	headers := entries(b, r.Headers)
	resppb.ReqStart(b)
	resppb.ReqAddId(b, r.ID)
	resppb.ReqAddStatus(b, uint16(r.Status))
	if headers != 0 {
		resppb.ReqAddHeaders(b, headers)
	}
	resppb.ReqAddConfToken(b, r.ConfToken)
	b.Finish(resppb.ReqEnd(b))
	return b.FinishedBytes(), nil
}

// EncodeExtraInfo returns the payload of an ExtraInfo answer. ok false
// leaves result absent, which is how APISIX reports a missing value.
func EncodeExtraInfo(result []byte, ok bool) []byte {
	b := flatbuffers.NewBuilder(64 + len(result))
	var r flatbuffers.UOffsetT
	if ok {
		r = b.CreateByteVector(result)
	}
	eipb.RespStart(b)
	if ok {
		eipb.RespAddResult(b, r)
	}
	b.Finish(eipb.RespEnd(b))
	return b.FinishedBytes()
}
