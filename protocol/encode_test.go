package protocol_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

func ptr[T any](v T) *T { return &v }

// js renders v for failure messages.
func js(v any) string {
	b, err := protocoltest.JSON(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// pe builds a protocol.Entry with a value; pa one without.
func pe(name, value string) protocol.Entry {
	return protocol.Entry{Name: []byte(name), Value: []byte(value), HasValue: true}
}
func pa(name string) protocol.Entry { return protocol.Entry{Name: []byte(name)} }

type kvs = []protocoltest.KV

// goldenReplies lists every runner → APISIX golden frame with its decoded
// contents (testdata/frames/README.md) and how our Encoder builds the same
// message.
var goldenReplies = []struct {
	file   string
	want   protocoltest.Reply
	encode func(e *protocol.Encoder) ([]byte, error)
}{
	{
		file:   "prepare_conf_resp.bin",
		want:   protocoltest.Reply{Type: protocol.TypePrepareConf, Token: 233},
		encode: func(e *protocol.Encoder) ([]byte, error) { return e.PrepareConf(233), nil },
	},
	{
		file: "http_req_call_resp_stop.bin",
		want: protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 4194311, Action: "stop", Stop: &protocoltest.Stop{
			Status:  405,
			Headers: protocoltest.KVs("X-Resp", "foo", "X-Same", "one", "X-Same", "two"),
			Body:    "cat",
		}},
		encode: func(e *protocol.Encoder) ([]byte, error) {
			return e.ReqCall(4194311, &protocol.ReqCallReply{
				Action: protocol.ActionStop, Status: 405, Body: []byte("cat"),
				Headers: []protocol.Entry{pe("X-Resp", "foo"), pe("X-Same", "one"), pe("X-Same", "two")},
			})
		},
	},
	{
		file: "http_req_call_resp_rewrite.bin",
		want: protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 4194311, Action: "rewrite", Rewrite: &protocoltest.Rewrite{
			Path:        ptr("/v2/hello"),
			Headers:     kvs{{Name: "X-Delete", NoValue: true}, {Name: "X-Change", Value: "bar"}, {Name: "Host", Value: "example.org"}},
			Args:        kvs{{Name: "a", Value: "foo"}, {Name: "d", NoValue: true}, {Name: "a", Value: "bar"}},
			RespHeaders: protocoltest.KVs("X-Resp", "foo"),
			Body:        "abc",
		}},
		encode: func(e *protocol.Encoder) ([]byte, error) {
			return e.ReqCall(4194311, &protocol.ReqCallReply{
				Action: protocol.ActionRewrite, Path: []byte("/v2/hello"), HasPath: true, Body: []byte("abc"),
				Headers:     []protocol.Entry{pa("X-Delete"), pe("X-Change", "bar"), pe("Host", "example.org")},
				Args:        []protocol.Entry{pe("a", "foo"), pa("d"), pe("a", "bar")},
				RespHeaders: []protocol.Entry{pe("X-Resp", "foo")},
			})
		},
	},
	{
		file:   "http_req_call_resp_pass.bin",
		want:   protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 4194311, Action: "none"},
		encode: func(e *protocol.Encoder) ([]byte, error) { return e.ReqCall(4194311, &protocol.ReqCallReply{}) },
	},
	{
		file:   "extra_info_var_req.bin",
		want:   protocoltest.Reply{Type: protocol.TypeExtraInfo, Question: &protocoltest.Question{Kind: "var", Name: "remote_addr"}},
		encode: func(e *protocol.Encoder) ([]byte, error) { return e.ExtraInfo(protocol.InfoVar, "remote_addr"), nil },
	},
	{
		file:   "extra_info_reqbody_req.bin",
		want:   protocoltest.Reply{Type: protocol.TypeExtraInfo, Question: &protocoltest.Question{Kind: "req_body"}},
		encode: func(e *protocol.Encoder) ([]byte, error) { return e.ExtraInfo(protocol.InfoReqBody, ""), nil },
	},
	{
		file: "http_resp_call_resp.bin",
		want: protocoltest.Reply{Type: protocol.TypeHTTPRespCall, ID: 4194312, Resp: &protocoltest.Resp{
			Status:  201,
			Headers: protocoltest.KVs("Content-Type", "application/json", "X-Same", "one", "X-Same", "two"),
			Body:    `{"ok":true}`,
		}},
		encode: func(e *protocol.Encoder) ([]byte, error) {
			return e.RespCall(4194312, &protocol.RespCallReply{
				Status: 201, Body: []byte(`{"ok":true}`),
				Headers: []protocol.Entry{pe("Content-Type", "application/json"), pe("X-Same", "one"), pe("X-Same", "two")},
			})
		},
	},
	{
		file:   "error_conf_token_not_found.bin",
		want:   protocoltest.Reply{Type: protocol.TypeError, Err: ptr(protocol.CodeConfTokenNotFound)},
		encode: func(e *protocol.Encoder) ([]byte, error) { return e.Error(protocol.CodeConfTokenNotFound), nil },
	},
}

// decodeFrame checks a frame's header and decodes it with the generated
// code.
func decodeFrame(tb testing.TB, frame []byte) protocoltest.Reply {
	tb.Helper()
	if len(frame) < protocol.HeaderSize {
		tb.Fatalf("frame of %d bytes", len(frame))
	}
	if n := int(frame[1])<<16 | int(frame[2])<<8 | int(frame[3]); n != len(frame)-protocol.HeaderSize {
		tb.Fatalf("header declares %d bytes, payload has %d", n, len(frame)-protocol.HeaderSize)
	}
	r, err := protocoltest.DecodeReply(protocol.Type(frame[0]), frame[protocol.HeaderSize:])
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestGoldenReplies(t *testing.T) {
	for _, g := range goldenReplies {
		t.Run(g.file, func(t *testing.T) {
			if got := decodeFrame(t, readGolden(t, g.file)); !reflect.DeepEqual(got, g.want) {
				t.Errorf("golden frame decodes to %s, want %s", js(got), js(g.want))
			}
			e := protocol.GetEncoder()
			defer protocol.PutEncoder(e)
			frame, err := g.encode(e)
			if err != nil {
				t.Fatal(err)
			}
			if got := decodeFrame(t, frame); !reflect.DeepEqual(got, g.want) {
				t.Errorf("Encoder frame decodes to %s, want %s", js(got), js(g.want))
			}
		})
	}
}

func TestEncoderReqCall(t *testing.T) {
	tests := []struct {
		name  string
		reply protocol.ReqCallReply
		want  protocoltest.Reply
	}{
		{
			name:  "stop without status, headers or body",
			reply: protocol.ReqCallReply{Action: protocol.ActionStop},
			want:  protocoltest.Reply{Action: "stop", Stop: &protocoltest.Stop{}},
		},
		{
			name: "empty and absent values",
			reply: protocol.ReqCallReply{Action: protocol.ActionStop, Status: 200,
				Headers: []protocol.Entry{pe("empty", ""), {Name: []byte("ignored"), Value: []byte("v")}}},
			want: protocoltest.Reply{Action: "stop", Stop: &protocoltest.Stop{Status: 200,
				Headers: kvs{{Name: "empty"}, {Name: "ignored", NoValue: true}}}},
		},
		{
			name:  "rewrite without path",
			reply: protocol.ReqCallReply{Action: protocol.ActionRewrite, Path: []byte("/ignored")},
			want:  protocoltest.Reply{Action: "rewrite", Rewrite: &protocoltest.Rewrite{}},
		},
		{
			name:  "rewrite to an empty path",
			reply: protocol.ReqCallReply{Action: protocol.ActionRewrite, HasPath: true},
			want:  protocoltest.Reply{Action: "rewrite", Rewrite: &protocoltest.Rewrite{Path: ptr("")}},
		},
		{
			name:  "unknown action passes through",
			reply: protocol.ReqCallReply{Action: protocol.Action(7), Status: 500},
			want:  protocoltest.Reply{Action: "none"},
		},
		{
			name:  "none ignores the stop fields",
			reply: protocol.ReqCallReply{Status: 403, Body: []byte("x"), Headers: []protocol.Entry{pe("a", "b")}},
			want:  protocoltest.Reply{Action: "none"},
		},
	}
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := e.ReqCall(99, &tc.reply)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Type, tc.want.ID = protocol.TypeHTTPReqCall, 99
			if got := decodeFrame(t, frame); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %s, want %s", js(got), js(tc.want))
			}
		})
	}
}

func TestEncoderRespCall(t *testing.T) {
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	frame, err := e.RespCall(1, &protocol.RespCallReply{})
	if err != nil {
		t.Fatal(err)
	}
	want := protocoltest.Reply{Type: protocol.TypeHTTPRespCall, ID: 1, Resp: &protocoltest.Resp{}}
	if got := decodeFrame(t, frame); !reflect.DeepEqual(got, want) {
		t.Errorf("got %s, want %s", js(got), js(want))
	}
}

func TestEncoderExtraInfoKinds(t *testing.T) {
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	for kind, want := range map[protocol.InfoKind]protocoltest.Question{
		protocol.InfoVar:      {Kind: "var", Name: "arg_x"},
		protocol.InfoReqBody:  {Kind: "req_body"},
		protocol.InfoRespBody: {Kind: "resp_body"},
	} {
		got := decodeFrame(t, e.ExtraInfo(kind, "arg_x"))
		if got.Type != protocol.TypeExtraInfo || got.Question == nil || *got.Question != want {
			t.Errorf("ExtraInfo(%v) = %s, want question %+v", kind, js(got), want)
		}
	}
}

// TestEncoderReuse checks that a frame does not keep bytes of a bigger
// frame built before it on the same Encoder.
func TestEncoderReuse(t *testing.T) {
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	big := &protocol.ReqCallReply{Action: protocol.ActionStop, Status: 200, Body: bytes.Repeat([]byte("x"), 5000),
		Headers: []protocol.Entry{pe("a", "b"), pe("c", "d")}}
	for range 2 {
		if _, err := e.ReqCall(1, big); err != nil {
			t.Fatal(err)
		}
		frame, err := e.RespCall(2, &protocol.RespCallReply{Status: 204})
		if err != nil {
			t.Fatal(err)
		}
		want := protocoltest.Reply{Type: protocol.TypeHTTPRespCall, ID: 2, Resp: &protocoltest.Resp{Status: 204}}
		if got := decodeFrame(t, frame); !reflect.DeepEqual(got, want) {
			t.Errorf("got %s, want %s", js(got), js(want))
		}
	}
}

func TestEncoderTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 64 MiB")
	}
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	body := make([]byte, protocol.MaxFrameSize)
	if _, err := e.ReqCall(1, &protocol.ReqCallReply{Action: protocol.ActionStop, Body: body}); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Errorf("ReqCall with a %d-byte body: error = %v, want ErrFrameTooLarge", len(body), err)
	}
	if _, err := e.RespCall(1, &protocol.RespCallReply{Body: body}); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Errorf("RespCall with a %d-byte body: error = %v, want ErrFrameTooLarge", len(body), err)
	}
	// The largest body that fits leaves room for the tables around it.
	frame, err := e.RespCall(1, &protocol.RespCallReply{Body: body[:protocol.MaxFrameSize-64]})
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeFrame(t, frame); got.Resp == nil || len(got.Resp.Body) != protocol.MaxFrameSize-64 {
		t.Errorf("near-maximum body did not round-trip")
	}
	// An answer with an id and a body takes 32 bytes besides the body and
	// its padding: a body of 2^24-36 bytes makes the largest payload, a
	// multiple of 4; one more byte, padded to 4, is too large. Both pass
	// the Encoder's early check on the content size.
	largest := protocol.MaxFrameSize - 35
	if frame, err = e.RespCall(1, &protocol.RespCallReply{Body: body[:largest]}); err != nil {
		t.Fatalf("RespCall with a %d-byte body: %v", largest, err)
	}
	if n := len(frame) - protocol.HeaderSize; n != protocol.MaxFrameSize-3 {
		t.Errorf("RespCall with a %d-byte body: payload of %d bytes, want %d", largest, n, protocol.MaxFrameSize-3)
	}
	if _, err := e.RespCall(1, &protocol.RespCallReply{Body: body[:largest+1]}); !errors.Is(err, protocol.ErrFrameTooLarge) {
		t.Errorf("RespCall with a %d-byte body: error = %v, want ErrFrameTooLarge", largest+1, err)
	}
}

func TestReplyReset(t *testing.T) {
	r := protocol.ReqCallReply{Action: protocol.ActionRewrite, Status: 1, Headers: []protocol.Entry{pe("a", "b")},
		Body: []byte("b"), Path: []byte("/p"), HasPath: true, Args: []protocol.Entry{pa("x")}, RespHeaders: []protocol.Entry{pa("y")}}
	r.Reset()
	if r.Action != protocol.ActionNone || r.Status != 0 || r.HasPath || len(r.Headers)+len(r.Body)+len(r.Path)+len(r.Args)+len(r.RespHeaders) != 0 {
		t.Errorf("after Reset: %+v, want an empty reply", r)
	}
	if cap(r.Headers) == 0 || cap(r.Args) == 0 || cap(r.RespHeaders) == 0 {
		t.Error("Reset dropped the capacity of the entry slices")
	}
	rr := protocol.RespCallReply{Status: 1, Headers: []protocol.Entry{pe("a", "b")}, Body: []byte("b")}
	rr.Reset()
	if rr.Status != 0 || len(rr.Headers) != 0 || len(rr.Body) != 0 || cap(rr.Headers) == 0 {
		t.Errorf("after Reset: %+v, want an empty reply with capacity", rr)
	}
}
