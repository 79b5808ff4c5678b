package runner_test

import (
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/loadgen"
	"github.com/scriptrunner/scriptrunner/internal/metrics"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// benchRequest is the load generator's realistic request (10 headers, 3
// args), carrying the key bench_filter's conf allows, or a wrong one when
// deny.
func benchRequest(deny bool) protocoltest.ReqCall { return loadgen.Request(nil, deny) }

// benchPayload is benchRequest's HTTPReqCall payload for conf token.
func benchPayload(tb testing.TB, token uint32, deny bool) []byte {
	tb.Helper()
	req := benchRequest(deny)
	req.ConfToken = token
	payload, err := protocoltest.EncodeReqCall(req)
	if err != nil {
		tb.Fatal(err)
	}
	return payload
}

// inProcessCall returns one whole in-process call of r on payload, as the
// server makes it: decode the frame payload, run the chain, encode the
// reply. An error fails tb.
func inProcessCall(tb testing.TB, r *runner.Runner, payload []byte) func() {
	var (
		call  protocol.Call
		in    protocol.HTTPReqCallRequest
		reply protocol.ReqCallReply
	)
	return func() {
		if err := in.Decode(payload); err != nil {
			tb.Fatal(err)
		}
		reply.Reset()
		if err := r.HTTPReqCall(&call, &in, &reply); err != nil {
			tb.Fatal(err)
		}
		enc := protocol.GetEncoder()
		if _, err := enc.ReqCall(in.ID, &reply); err != nil {
			tb.Fatal(err)
		}
		protocol.PutEncoder(enc)
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
		name          string
		deny, metrics bool
	}{{"allow", false, false}, {"deny", true, false}, {"allow/metrics", false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			var m *metrics.Metrics
			if tc.metrics {
				m = metrics.New(metrics.Sources{})
			}
			r, token := newObservedBenchRunner(b, m)
			call := inProcessCall(b, r, benchPayload(b, token, tc.deny))
			b.ReportAllocs()
			for b.Loop() {
				call()
			}
		})
	}
}

// evictSize is more than the L2 cache of a core of the machine in
// docs/bench.md (1 MiB); evicting 256 KiB changed nothing measurable.
const evictSize = 4 << 20

// evictCaches replaces most of what the processor's caches hold, as the
// kernel, the load generator and the other connections do between two
// calls of a connection under load.
func evictCaches(buf []byte) {
	for i := 0; i < len(buf); i += 64 {
		buf[i]++
	}
}

// BenchmarkInProcessCold is BenchmarkInProcess/allow with the caches
// emptied before each call ("cold") or not ("warm"). Its call-ns metric
// is the time of the call alone; ns/op also counts the eviction. The
// difference is what the call costs in cache misses, which is why an
// operation costs more under load over the socket than here
// (docs/bench.md).
func BenchmarkInProcessCold(b *testing.B) {
	r, token := newBenchRunner(b)
	call := inProcessCall(b, r, benchPayload(b, token, false))
	evict := make([]byte, evictSize)
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			var took time.Duration
			for b.Loop() {
				if cold {
					evictCaches(evict)
				}
				start := time.Now()
				call()
				took += time.Since(start)
			}
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "call-ns")
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
		payload := benchPayload(b, token, false)
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
		payload := benchPayload(b, token, false)
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
