package protocol

import (
	"sync"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/scriptrunner/scriptrunner/protocol/internal/A6"
	errpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/Err"
	eipb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/ExtraInfo"
	reqpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPReqCall"
	resppb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPRespCall"
	pcpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/PrepareConf"
)

// Action is the kind of answer to an HTTPReqCall.
type Action uint8

// Actions, numbered as the A6.HTTPReqCall.Action union tags.
const (
	ActionNone    Action = 0 // pass through unchanged
	ActionStop    Action = 1 // answer the client now
	ActionRewrite Action = 2 // modify the request and continue
)

// ReqCallReply is the answer to an HTTPReqCall. The zero value passes the
// request through. Reset keeps the capacity of its entry slices so that a
// reply can be reused across calls; Body and Path are dropped, since they
// may alias a script's data.
type ReqCallReply struct {
	Action Action

	// Status, Headers and Body are the Stop response. Headers is also the
	// request header changes of a Rewrite (an entry without value deletes)
	// and Body its replacement request body (empty = unchanged).
	Status  int
	Headers []Entry
	Body    []byte

	// Rewrite only.
	Path        []byte
	HasPath     bool
	Args        []Entry
	RespHeaders []Entry
}

// Reset clears r for reuse.
func (r *ReqCallReply) Reset() {
	clear(r.Headers)
	clear(r.Args)
	clear(r.RespHeaders)
	*r = ReqCallReply{
		Headers:     r.Headers[:0],
		Args:        r.Args[:0],
		RespHeaders: r.RespHeaders[:0],
	}
}

// RespCallReply is the answer to an HTTPRespCall. Status 0 keeps the
// upstream status; a non-empty Headers replaces all upstream headers; a
// non-empty Body replaces the upstream body.
type RespCallReply struct {
	Status  int
	Headers []Entry
	Body    []byte
}

// Reset clears r for reuse.
func (r *RespCallReply) Reset() {
	clear(r.Headers)
	*r = RespCallReply{Headers: r.Headers[:0]}
}

// Encoder builds reply frames. Each method returns a complete frame
// (header and payload) that stays valid until the next call on the same
// Encoder. An Encoder is not safe for concurrent use; get one from
// GetEncoder and return it with PutEncoder.
type Encoder struct {
	b    *flatbuffers.Builder
	offs []flatbuffers.UOffsetT
	out  []byte
}

var encoderPool = sync.Pool{New: func() any {
	return &Encoder{b: flatbuffers.NewBuilder(1024)}
}}

// GetEncoder returns a pooled Encoder.
func GetEncoder() *Encoder { return encoderPool.Get().(*Encoder) }

// maxPooledEncoder is the largest builder kept in the pool; bigger ones
// (built for large bodies) are left to the garbage collector.
const maxPooledEncoder = 1 << 20

// PutEncoder returns e to the pool. Frames it returned must no longer be
// used.
func PutEncoder(e *Encoder) {
	if cap(e.out) > maxPooledEncoder || cap(e.b.Bytes) > maxPooledEncoder {
		return
	}
	encoderPool.Put(e)
}

func (e *Encoder) finish(t Type, root flatbuffers.UOffsetT) ([]byte, error) {
	e.b.Finish(root)
	payload := e.b.FinishedBytes()
	var err error
	if e.out, err = AppendFrameHeader(e.out[:0], t, len(payload)); err != nil {
		return nil, err
	}
	e.out = append(e.out, payload...)
	return e.out, nil
}

// entries builds a vector of TextEntry tables.
func (e *Encoder) entries(list []Entry, startVector func(*flatbuffers.Builder, int) flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	if len(list) == 0 {
		return 0
	}
	base := len(e.offs)
	for i := range list {
		name := e.b.CreateByteString(list[i].Name)
		var value flatbuffers.UOffsetT
		if list[i].HasValue {
			value = e.b.CreateByteString(list[i].Value)
		}
		A6.TextEntryStart(e.b)
		A6.TextEntryAddName(e.b, name)
		if list[i].HasValue {
			A6.TextEntryAddValue(e.b, value)
		}
		e.offs = append(e.offs, A6.TextEntryEnd(e.b))
	}
	startVector(e.b, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		e.b.PrependUOffsetT(e.offs[base+i])
	}
	e.offs = e.offs[:base]
	return e.b.EndVector(len(list))
}

func (e *Encoder) byteVector(v []byte) flatbuffers.UOffsetT {
	if len(v) == 0 {
		return 0
	}
	return e.b.CreateByteVector(v)
}

func (e *Encoder) reset() {
	e.b.Reset()
	e.offs = e.offs[:0]
}

// Error encodes an RPC_ERROR frame.
func (e *Encoder) Error(code Code) []byte {
	e.reset()
	errpb.RespStart(e.b)
	errpb.RespAddCode(e.b, errpb.Code(code))
	out, _ := e.finish(TypeError, errpb.RespEnd(e.b))
	return out
}

// PrepareConf encodes the answer to a PrepareConf.
func (e *Encoder) PrepareConf(token uint32) []byte {
	e.reset()
	pcpb.RespStart(e.b)
	pcpb.RespAddConfToken(e.b, token)
	out, _ := e.finish(TypePrepareConf, pcpb.RespEnd(e.b))
	return out
}

// ReqCall encodes the answer to an HTTPReqCall. It fails with
// ErrFrameTooLarge when the reply does not fit in one frame.
func (e *Encoder) ReqCall(id uint32, r *ReqCallReply) ([]byte, error) {
	e.reset()
	var action flatbuffers.UOffsetT
	switch r.Action {
	case ActionStop:
		headers := e.entries(r.Headers, reqpb.StopStartHeadersVector)
		body := e.byteVector(r.Body)
		reqpb.StopStart(e.b)
		reqpb.StopAddStatus(e.b, uint16(r.Status))
		if headers != 0 {
			reqpb.StopAddHeaders(e.b, headers)
		}
		if body != 0 {
			reqpb.StopAddBody(e.b, body)
		}
		action = reqpb.StopEnd(e.b)
	case ActionRewrite:
		var path flatbuffers.UOffsetT
		if r.HasPath {
			path = e.b.CreateByteString(r.Path)
		}
		headers := e.entries(r.Headers, reqpb.RewriteStartHeadersVector)
		args := e.entries(r.Args, reqpb.RewriteStartArgsVector)
		respHeaders := e.entries(r.RespHeaders, reqpb.RewriteStartRespHeadersVector)
		body := e.byteVector(r.Body)
		reqpb.RewriteStart(e.b)
		if r.HasPath {
			reqpb.RewriteAddPath(e.b, path)
		}
		if headers != 0 {
			reqpb.RewriteAddHeaders(e.b, headers)
		}
		if args != 0 {
			reqpb.RewriteAddArgs(e.b, args)
		}
		if respHeaders != 0 {
			reqpb.RewriteAddRespHeaders(e.b, respHeaders)
		}
		if body != 0 {
			reqpb.RewriteAddBody(e.b, body)
		}
		action = reqpb.RewriteEnd(e.b)
	}
	reqpb.RespStart(e.b)
	reqpb.RespAddId(e.b, id)
	if action != 0 {
		reqpb.RespAddActionType(e.b, reqpb.Action(r.Action))
		reqpb.RespAddAction(e.b, action)
	}
	return e.finish(TypeHTTPReqCall, reqpb.RespEnd(e.b))
}

// RespCall encodes the answer to an HTTPRespCall.
func (e *Encoder) RespCall(id uint32, r *RespCallReply) ([]byte, error) {
	e.reset()
	headers := e.entries(r.Headers, resppb.RespStartHeadersVector)
	body := e.byteVector(r.Body)
	resppb.RespStart(e.b)
	resppb.RespAddId(e.b, id)
	resppb.RespAddStatus(e.b, uint16(r.Status))
	if headers != 0 {
		resppb.RespAddHeaders(e.b, headers)
	}
	if body != 0 {
		resppb.RespAddBody(e.b, body)
	}
	return e.finish(TypeHTTPRespCall, resppb.RespEnd(e.b))
}

// InfoKind is the kind of an ExtraInfo question.
type InfoKind uint8

// ExtraInfo kinds, numbered as the A6.ExtraInfo.Info union tags.
const (
	InfoVar      InfoKind = 1
	InfoReqBody  InfoKind = 2
	InfoRespBody InfoKind = 3
)

func (k InfoKind) String() string {
	switch k {
	case InfoVar:
		return "var"
	case InfoReqBody:
		return "req_body"
	case InfoRespBody:
		return "resp_body"
	}
	return "unknown"
}

// ExtraInfo encodes an ExtraInfo question; name is used for InfoVar only.
func (e *Encoder) ExtraInfo(kind InfoKind, name string) []byte {
	e.reset()
	var info flatbuffers.UOffsetT
	switch kind {
	case InfoVar:
		n := e.b.CreateString(name)
		eipb.VarStart(e.b)
		eipb.VarAddName(e.b, n)
		info = eipb.VarEnd(e.b)
	case InfoReqBody:
		eipb.ReqBodyStart(e.b)
		info = eipb.ReqBodyEnd(e.b)
	default:
		eipb.RespBodyStart(e.b)
		info = eipb.RespBodyEnd(e.b)
	}
	eipb.ReqStart(e.b)
	eipb.ReqAddInfoType(e.b, eipb.Info(kind))
	eipb.ReqAddInfo(e.b, info)
	out, _ := e.finish(TypeExtraInfo, eipb.ReqEnd(e.b))
	return out
}
