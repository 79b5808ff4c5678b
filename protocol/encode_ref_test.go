package protocol_test

import (
	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/internal/A6"
	reqpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPReqCall"
	resppb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPRespCall"
)

// The reference encoders below build the HTTPReqCall and HTTPRespCall
// answers with the generated flatbuffers.Builder code, as Encoder did
// before it wrote them directly. Tests compare Encoder with them: the
// decoded contents must be the same, and so, today, are the bytes.

// refBuilder builds one reference payload.
type refBuilder struct {
	b    *flatbuffers.Builder
	offs []flatbuffers.UOffsetT
}

func newRefBuilder() *refBuilder { return &refBuilder{b: flatbuffers.NewBuilder(0)} }

// entries builds a vector of TextEntry tables; 0 for an empty list.
func (e *refBuilder) entries(list []protocol.Entry, startVector func(*flatbuffers.Builder, int) flatbuffers.UOffsetT) flatbuffers.UOffsetT {
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

// byteVector builds a [ubyte]; 0 for an empty slice.
func (e *refBuilder) byteVector(v []byte) flatbuffers.UOffsetT {
	if len(v) == 0 {
		return 0
	}
	return e.b.CreateByteVector(v)
}

// referenceReqCall returns the Builder payload of the answer r to
// HTTPReqCall id.
func referenceReqCall(id uint32, r *protocol.ReqCallReply) []byte {
	e := newRefBuilder()
	var action flatbuffers.UOffsetT
	switch r.Action {
	case protocol.ActionStop:
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
	case protocol.ActionRewrite:
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
	e.b.Finish(reqpb.RespEnd(e.b))
	return e.b.FinishedBytes()
}

// referenceRespCall returns the Builder payload of the answer r to
// HTTPRespCall id.
func referenceRespCall(id uint32, r *protocol.RespCallReply) []byte {
	e := newRefBuilder()
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
	e.b.Finish(resppb.RespEnd(e.b))
	return e.b.FinishedBytes()
}
