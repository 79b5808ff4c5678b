package runner_test

import (
	"net/netip"
	"testing"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/metrics"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// benchRequest is a realistic request: 10 headers, 3 args.
func benchRequest(key string) protocoltest.ReqCall {
	return protocoltest.ReqCall{
		ID: 4194311, Method: "GET", Path: "/api/v1/orders/1234",
		SrcIP: netip.MustParseAddr("10.1.2.3"),
		Args:  protocoltest.KVs("page", "2", "size", "50", "sort", "created"),
		Headers: protocoltest.KVs(
			"host", "api.example.com",
			"user-agent", "Mozilla/5.0 (X11; Linux x86_64)",
			"accept", "application/json",
			"accept-encoding", "gzip, deflate, br",
			"accept-language", "en-US,en;q=0.9",
			"x-request-id", "6f1c2b1e-8a4d-4c53-9a57-0f6e2d9c1b3a",
			"x-forwarded-for", "203.0.113.7",
			"x-api-key", key,
			"cookie", "session=abc123; theme=dark",
			"connection", "keep-alive",
		),
	}
}

const benchConf = `{"header":"X-Api-Key","key":"secret"}`

// newBenchRunner prepares bench_filter and returns the runner and token.
func newBenchRunner(b testing.TB) (*runner.Runner, uint32) {
	return newObservedBenchRunner(b, nil)
}

// newObservedBenchRunner is newBenchRunner with the metrics listener's
// collectors attached when m is not nil.
func newObservedBenchRunner(b testing.TB, m *metrics.Metrics) (*runner.Runner, uint32) {
	b.Helper()
	ecfg := engine.Config{Dir: "../../scripts"}
	var rcfg runner.Config
	if m != nil {
		ecfg.Observer, ecfg.Metrics, rcfg.Observer = m, m, m
	}
	eng := engine.New(ecfg, nil)
	r := runner.New(eng, rcfg, nil)
	b.Cleanup(r.Close)
	token, err := r.PrepareConf(&protocol.PrepareConfRequest{
		Conf: []protocol.Entry{{Name: []byte("bench_filter"), Value: []byte(benchConf), HasValue: true}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return r, token
}

// BenchmarkInProcess measures the whole in-process path of one call:
// decode the frame payload, run bench_filter, encode the reply.
//
// The metrics variants show what the metrics listener costs when it is on;
// off (the others) the hot path only checks for a nil observer.
func BenchmarkInProcess(b *testing.B) {
	for _, tc := range []struct {
		name, key string
		metrics   bool
	}{{"allow", "secret", false}, {"deny", "wrong", false}, {"allow/metrics", "secret", true}} {
		b.Run(tc.name, func(b *testing.B) {
			var m *metrics.Metrics
			if tc.metrics {
				m = metrics.New(metrics.Sources{})
			}
			r, token := newObservedBenchRunner(b, m)
			req := benchRequest(tc.key)
			req.ConfToken = token
			payload, err := protocoltest.EncodeReqCall(req)
			if err != nil {
				b.Fatal(err)
			}
			var (
				call  protocol.Call
				in    protocol.HTTPReqCallRequest
				reply protocol.ReqCallReply
			)
			b.ReportAllocs()
			for b.Loop() {
				if err := in.Decode(payload); err != nil {
					b.Fatal(err)
				}
				reply.Reset()
				if err := r.HTTPReqCall(&call, &in, &reply); err != nil {
					b.Fatal(err)
				}
				enc := protocol.GetEncoder()
				if _, err := enc.ReqCall(in.ID, &reply); err != nil {
					b.Fatal(err)
				}
				protocol.PutEncoder(enc)
			}
		})
	}
}

// BenchmarkSocketRoundTrip measures a call through a real Unix socket,
// one connection after the other (conns=1) and from parallel connections.
func BenchmarkSocketRoundTrip(b *testing.B) {
	scripts := runnertest.Bundled(b, "../../scripts")
	h := runnertest.Start(b, scripts, engine.Config{})
	b.Run("conns=1", func(b *testing.B) {
		c := h.Server.Dial(b)
		token, err := c.Prepare("k", protocoltest.KV{Name: "bench_filter", Value: benchConf})
		if err != nil {
			b.Fatal(err)
		}
		req := benchRequest("secret")
		req.ConfToken = token
		payload, _ := protocoltest.EncodeReqCall(req)
		b.ReportAllocs()
		for b.Loop() {
			if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.ReadFrame(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		token, err := h.Server.Dial(b).Prepare("k", protocoltest.KV{Name: "bench_filter", Value: benchConf})
		if err != nil {
			b.Fatal(err)
		}
		req := benchRequest("secret")
		req.ConfToken = token
		payload, _ := protocoltest.EncodeReqCall(req)
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			c := h.Server.Dial(b)
			for pb.Next() {
				if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
					b.Error(err)
					return
				}
				if _, _, err := c.ReadFrame(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
