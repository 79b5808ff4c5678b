package protocol_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/valyala/bytebufferpool"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// realisticReqCall is a typical request: 10 headers, 3 query arguments.
func realisticReqCall(tb testing.TB) []byte {
	tb.Helper()
	payload, err := protocoltest.EncodeReqCall(protocoltest.ReqCall{
		ID: 4194311, ConfToken: 233, Method: "GET", Path: "/api/v1/orders/12345",
		SrcIP: netip.MustParseAddr("192.0.2.10"),
		Args:  protocoltest.KVs("page", "2", "limit", "50", "sort", "created_at"),
		Headers: protocoltest.KVs(
			"host", "api.example.com",
			"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
			"accept", "application/json",
			"accept-encoding", "gzip, deflate, br",
			"accept-language", "en-US,en;q=0.9",
			"authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
			"x-request-id", "5f0c6b3e-8a7d-4e0e-9f5a-2d7c1b9e4a11",
			"x-forwarded-for", "198.51.100.7",
			"cookie", "session=abc123; theme=dark",
			"connection", "keep-alive",
		),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return payload
}

// rewriteOneHeader is the reply of a typical filter: add one header.
var rewriteOneHeader = protocol.ReqCallReply{Action: protocol.ActionRewrite,
	Headers: []protocol.Entry{{Name: []byte("x-user"), Value: []byte("12345"), HasValue: true}}}

func BenchmarkReadFrame(b *testing.B) {
	sizes := []struct {
		name string
		n    int
	}{{"412B", 412}, {"4KiB", 4 << 10}, {"64KiB", 64 << 10}}
	for _, s := range sizes {
		b.Run(s.name, func(b *testing.B) {
			frame := append([]byte{byte(protocol.TypeHTTPReqCall), byte(s.n >> 16), byte(s.n >> 8), byte(s.n)}, make([]byte, s.n)...)
			r := bytes.NewReader(frame)
			buf := new(bytebufferpool.ByteBuffer)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(frame)
				if _, err := protocol.ReadFrame(r, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeHTTPReqCall(b *testing.B) {
	for name, payload := range map[string][]byte{
		"golden":     goldenPayload(b, "http_req_call_req.bin"),
		"10hdr3args": realisticReqCall(b),
	} {
		b.Run(name, func(b *testing.B) {
			var req protocol.HTTPReqCallRequest
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if err := req.Decode(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// stopForbidden is the reply of a filter that denies: a status, one
// header and a short body.
var stopForbidden = protocol.ReqCallReply{Action: protocol.ActionStop, Status: 403, Body: []byte("forbidden"),
	Headers: []protocol.Entry{{Name: []byte("content-type"), Value: []byte("text/plain"), HasValue: true}}}

// rewriteFull uses every Rewrite field, with a delete among the headers.
var rewriteFull = protocol.ReqCallReply{Action: protocol.ActionRewrite, Path: []byte("/api/v2/orders/12345"), HasPath: true,
	Headers: []protocol.Entry{
		{Name: []byte("x-user"), Value: []byte("12345"), HasValue: true},
		{Name: []byte("x-api-key")},
		{Name: []byte("x-tenant"), Value: []byte("acme"), HasValue: true},
	},
	Args:        []protocol.Entry{{Name: []byte("page"), Value: []byte("3"), HasValue: true}, {Name: []byte("debug")}},
	RespHeaders: []protocol.Entry{{Name: []byte("x-runner"), Value: []byte("scriptrunner"), HasValue: true}},
	Body:        []byte(`{"user":12345}`),
}

// respCallTwoHeaders replaces the upstream status, headers and body.
var respCallTwoHeaders = protocol.RespCallReply{Status: 201, Body: []byte(`{"ok":true}`),
	Headers: []protocol.Entry{
		{Name: []byte("content-type"), Value: []byte("application/json"), HasValue: true},
		{Name: []byte("x-runner"), Value: []byte("scriptrunner"), HasValue: true},
	}}

func BenchmarkEncodeReqCall(b *testing.B) {
	for _, bc := range []struct {
		name  string
		reply *protocol.ReqCallReply
	}{
		{"rewrite/1hdr", &rewriteOneHeader},
		{"rewrite/full", &rewriteFull},
		{"stop/403", &stopForbidden},
		{"pass", &protocol.ReqCallReply{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e := protocol.GetEncoder()
				if _, err := e.ReqCall(4194311, bc.reply); err != nil {
					b.Fatal(err)
				}
				protocol.PutEncoder(e)
			}
		})
	}
}

func BenchmarkEncodeRespCall(b *testing.B) {
	b.Run("status/2hdr/body", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := protocol.GetEncoder()
			if _, err := e.RespCall(4194312, &respCallTwoHeaders); err != nil {
				b.Fatal(err)
			}
			protocol.PutEncoder(e)
		}
	})
}

// BenchmarkServer measures whole exchanges over a Unix socket: one
// request and its reply at a time, and batches of raw frames written in
// one go and read back (NATS-style pipelining; APISIX itself never
// pipelines on a connection).
func BenchmarkServer(b *testing.B) {
	srv := protocoltest.NewServer(b, &fakeHandler{
		reqCall: func(_ *protocol.Call, _ *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			reply.Action = protocol.ActionRewrite
			reply.Headers = append(reply.Headers, rewriteOneHeader.Headers...)
			return nil
		},
	})
	payload := realisticReqCall(b)
	frame := append([]byte{byte(protocol.TypeHTTPReqCall), 0, byte(len(payload) >> 8), byte(len(payload))}, payload...)
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("reqcall/batch%d", batch), func(b *testing.B) {
			c := srv.Dial(b)
			out := bytes.Repeat(frame, batch)
			b.SetBytes(int64(len(out)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteRaw(out); err != nil {
					b.Fatal(err)
				}
				for range batch {
					if typ, _, err := c.ReadFrame(); err != nil || typ != protocol.TypeHTTPReqCall {
						b.Fatalf("reply type %v, error %v", typ, err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/frame")
		})
	}
}

// skipAllocs skips allocation guards where counts are not meaningful.
func skipAllocs(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("allocation guard skipped in -short mode")
	}
	if raceEnabled {
		t.Skip("allocation guard skipped under the race detector")
	}
}

func TestDecodeHTTPReqCallAllocs(t *testing.T) {
	skipAllocs(t)
	for name, payload := range map[string][]byte{
		"golden":     goldenPayload(t, "http_req_call_req.bin"),
		"10hdr3args": realisticReqCall(t),
	} {
		var req protocol.HTTPReqCallRequest
		if err := req.Decode(payload); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { req.Decode(payload) }); n != 0 {
			t.Errorf("%s: HTTPReqCallRequest.Decode reusing the struct: %v allocs, want 0", name, n)
		}
	}
}

func TestEncodeReqCallAllocs(t *testing.T) {
	skipAllocs(t)
	encode := func() {
		e := protocol.GetEncoder()
		if _, err := e.ReqCall(4194311, &rewriteOneHeader); err != nil {
			t.Fatal(err)
		}
		protocol.PutEncoder(e)
	}
	encode()
	if n := testing.AllocsPerRun(100, encode); n != 0 {
		t.Errorf("Encoder.ReqCall with a pooled Encoder: %v allocs, want 0", n)
	}
}

func TestReadFrameAllocs(t *testing.T) {
	skipAllocs(t)
	frame := readGolden(t, "http_req_call_req.bin")
	r := bytes.NewReader(frame)
	buf := new(bytebufferpool.ByteBuffer)
	read := func() {
		r.Reset(frame)
		if _, err := protocol.ReadFrame(r, buf); err != nil {
			t.Fatal(err)
		}
	}
	read()
	if n := testing.AllocsPerRun(100, read); n != 0 {
		t.Errorf("ReadFrame reusing its buffer: %v allocs, want 0", n)
	}
}
