package apisix

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/internal/A6"
	errpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/Err"
	eipb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/ExtraInfo"
	reqpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPReqCall"
	resppb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPRespCall"
	pcpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/PrepareConf"
)

// Reply is a decoded frame from the runner. Which fields are set depends on
// Type. Entry lists and bodies that are absent or empty on the wire both
// decode to nil and "": APISIX treats them alike.
//
// Its JSON form has sorted keys and names the type and error code, for
// example {"action":"stop","id":7,"stop":{"status":403},"type":"RPC_HTTP_REQ_CALL"}.
type Reply struct {
	Type protocol.Type
	// Err is the code of an RPC_ERROR (TypeError).
	Err *protocol.Code
	// Token is the conf token of a PrepareConf answer.
	Token uint32
	// ID is the id of an HTTPReqCall or HTTPRespCall answer.
	ID uint32
	// Action is the HTTPReqCall action: "none", "stop", "rewrite", or
	// "action_type(N)" for a union tag APISIX does not know.
	Action string
	// Stop and Rewrite hold the HTTPReqCall action's table.
	Stop    *Stop
	Rewrite *Rewrite
	// Resp is an HTTPRespCall answer.
	Resp *Resp
	// Question is an ExtraInfo question (TypeExtraInfo).
	Question *Question
}

// Stop is an A6.HTTPReqCall.Stop action.
type Stop struct {
	Status  int    `json:"status"`
	Headers []KV   `json:"headers,omitempty"`
	Body    string `json:"body,omitempty"`
}

// Rewrite is an A6.HTTPReqCall.Rewrite action. Path is nil when absent.
type Rewrite struct {
	Path        *string `json:"path,omitempty"`
	Headers     []KV    `json:"headers,omitempty"`
	Args        []KV    `json:"args,omitempty"`
	RespHeaders []KV    `json:"resp_headers,omitempty"`
	Body        string  `json:"body,omitempty"`
}

// Resp is an A6.HTTPRespCall.Resp.
type Resp struct {
	Status  int    `json:"status"`
	Headers []KV   `json:"headers,omitempty"`
	Body    string `json:"body,omitempty"`
}

// Question kinds, as protocol.InfoKind.String spells them.
const (
	KindVar      = "var"
	KindReqBody  = "req_body"
	KindRespBody = "resp_body"
)

// Question is an ExtraInfo question.
type Question struct {
	// Kind is KindVar, KindReqBody, KindRespBody, or "info_type(N)" for a
	// union tag APISIX rejects.
	Kind string `json:"kind"`
	// Name is the variable name of a KindVar question.
	Name string `json:"name,omitempty"`
}

func (q Question) Valid() bool {
	return q.Kind == KindVar || q.Kind == KindReqBody || q.Kind == KindRespBody
}

// MarshalJSON renders r with the type and error code as names and only the
// fields its type uses.
func (r Reply) MarshalJSON() ([]byte, error) {
	j := struct {
		Type     string    `json:"type"`
		Error    string    `json:"error,omitempty"`
		Token    *uint32   `json:"conf_token,omitempty"`
		ID       *uint32   `json:"id,omitempty"`
		Action   string    `json:"action,omitempty"`
		Stop     *Stop     `json:"stop,omitempty"`
		Rewrite  *Rewrite  `json:"rewrite,omitempty"`
		Resp     *Resp     `json:"resp,omitempty"`
		Question *Question `json:"question,omitempty"`
	}{Type: r.Type.String(), Action: r.Action, Stop: r.Stop, Rewrite: r.Rewrite, Resp: r.Resp, Question: r.Question}
	if r.Err != nil {
		j.Error = r.Err.String()
	}
	switch r.Type {
	case protocol.TypePrepareConf:
		j.Token = &r.Token
	case protocol.TypeHTTPReqCall, protocol.TypeHTTPRespCall:
		j.ID = &r.ID
	}
	return json.Marshal(j)
}

// JSON renders v as indented JSON with object keys sorted at every level,
// HTML characters unescaped and a final newline, for golden files. Pass a
// json.RawMessage to normalise JSON text the same way. Bodies that are not
// valid UTF-8 are rendered with U+FFFD replacement characters.
func JSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var tree any
	if err := d.Decode(&tree); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	e := json.NewEncoder(&out)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(tree); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// DecodeReply decodes the payload of a runner frame of type t with the
// generated FlatBuffers code. The generated accessors panic on malformed
// input; such a panic is returned as an error.
func DecodeReply(t protocol.Type, payload []byte) (r Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = Reply{Type: t}, fmt.Errorf("apisix: decode %s: malformed payload: %v", t, p)
		}
	}()
	r.Type = t
	if len(payload) < 4 {
		return r, fmt.Errorf("apisix: decode %s: payload of %d bytes", t, len(payload))
	}
	switch t {
	case protocol.TypeError:
		code := protocol.Code(errpb.GetRootAsResp(payload, 0).Code())
		r.Err = &code
	case protocol.TypePrepareConf:
		r.Token = pcpb.GetRootAsResp(payload, 0).ConfToken()
	case protocol.TypeHTTPReqCall:
		err = decodeReqCall(&r, reqpb.GetRootAsResp(payload, 0))
	case protocol.TypeHTTPRespCall:
		err = decodeRespCall(&r, resppb.GetRootAsResp(payload, 0))
	case protocol.TypeExtraInfo:
		err = decodeQuestion(&r, eipb.GetRootAsReq(payload, 0))
	default:
		err = errors.New("unknown frame type")
	}
	if err != nil {
		return r, fmt.Errorf("apisix: decode %s: %w", t, err)
	}
	return r, nil
}

func decodeReqCall(r *Reply, m *reqpb.Resp) error {
	r.ID = m.Id()
	var tab flatbuffers.Table
	has := m.Action(&tab)
	switch m.ActionType() {
	case reqpb.ActionNONE:
		r.Action = "none"
	case reqpb.ActionStop:
		r.Action = "stop"
		if !has {
			return errors.New("stop action without its table")
		}
		var s reqpb.Stop
		s.Init(tab.Bytes, tab.Pos)
		r.Stop = &Stop{Status: int(s.Status()), Body: string(s.BodyBytes())}
		r.Stop.Headers = kvs(len(tab.Bytes), s.HeadersLength(), s.Headers)
	case reqpb.ActionRewrite:
		r.Action = "rewrite"
		if !has {
			return errors.New("rewrite action without its table")
		}
		var w reqpb.Rewrite
		w.Init(tab.Bytes, tab.Pos)
		r.Rewrite = decodeRewrite(&w)
	default:
		r.Action = fmt.Sprintf("action_type(%d)", m.ActionType())
	}
	return nil
}

func decodeRewrite(w *reqpb.Rewrite) *Rewrite {
	n := len(w.Table().Bytes)
	rw := &Rewrite{Body: string(w.BodyBytes())}
	if p := w.Path(); p != nil {
		s := string(p)
		rw.Path = &s
	}
	rw.Headers = kvs(n, w.HeadersLength(), w.Headers)
	rw.Args = kvs(n, w.ArgsLength(), w.Args)
	rw.RespHeaders = kvs(n, w.RespHeadersLength(), w.RespHeaders)
	return rw
}

func decodeRespCall(r *Reply, m *resppb.Resp) error {
	r.ID = m.Id()
	r.Resp = &Resp{Status: int(m.Status()), Body: string(m.BodyBytes())}
	r.Resp.Headers = kvs(len(m.Table().Bytes), m.HeadersLength(), m.Headers)
	return nil
}

func decodeQuestion(r *Reply, m *eipb.Req) error {
	var tab flatbuffers.Table
	has := m.Info(&tab)
	q := Question{}
	switch m.InfoType() {
	case eipb.InfoVar:
		q.Kind = KindVar
		if !has {
			return errors.New("var question without its table")
		}
		var v eipb.Var
		v.Init(tab.Bytes, tab.Pos)
		q.Name = string(v.Name())
	case eipb.InfoReqBody:
		q.Kind = KindReqBody
	case eipb.InfoRespBody:
		q.Kind = KindRespBody
	default:
		q.Kind = fmt.Sprintf("info_type(%d)", m.InfoType())
	}
	r.Question = &q
	return nil
}

// kvs reads n entries through the generated accessor at. A count that
// cannot fit in a buffer of size bufLen panics, before any allocation.
func kvs(bufLen, n int, at func(*A6.TextEntry, int) bool) []KV {
	if n == 0 {
		return nil
	}
	if n < 0 || n > bufLen/4 {
		panic(fmt.Sprintf("vector of %d entries in %d bytes", n, bufLen))
	}
	out := make([]KV, n)
	var e A6.TextEntry
	for i := range out {
		at(&e, i)
		v := e.Value()
		out[i] = KV{Name: string(e.Name()), Value: string(v), NoValue: v == nil}
	}
	return out
}
