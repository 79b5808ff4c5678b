package engine_test

import (
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// benchFilter is the reference workload (scripts/bench_filter.star).
const benchFilter = `def on_request(req, conf):
    if req.headers.get(conf["header"]) != conf["key"]:
        return respond(403, body = "forbidden")
    req.headers.set("X-User", "alice")
`

func benchChain(tb testing.TB) (*engine.Engine, engine.Chain) {
	tb.Helper()
	e, _ := newEngine(tb, engine.Config{}, map[string]string{"filter": benchFilter})
	return e, newChain(tb, e, []string{"filter"}, map[string]string{"filter": `{"header": "X-Api-Key", "key": "secret"}`})
}

// denyRequest is newRequest with a wrong API key.
func denyRequest() *request {
	r := newRequest(1)
	for i := range r.headers.list {
		if string(r.headers.list[i].name) == "x-api-key" {
			r.headers.list[i].value = []byte("wrong")
		}
	}
	return r
}

func BenchmarkRunRequest(b *testing.B) {
	tests := []struct {
		name string
		req  *request
		want engine.Outcome
	}{
		{name: "allow/10hdr", req: newRequest(1), want: engine.Rewrite},
		{name: "deny/10hdr", req: denyRequest(), want: engine.Stopped},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			e, chain := benchChain(b)
			var d bindings.Decision
			if res := e.RunRequest(chain, tc.req, &d); res.Outcome != tc.want {
				b.Fatalf("got outcome %v (%v), want %v", res.Outcome, res.Err, tc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				e.RunRequest(chain, tc.req, &d)
			}
		})
	}
}

// scriptOps is the reference filter split into its operations, each the
// whole handler of a script of its own.
var scriptOps = []struct{ name, src string }{
	{"pass", "def on_request(req, conf):\n    pass\n"},
	{"conf", "def on_request(req, conf):\n    x = conf[\"header\"]\n    y = conf[\"key\"]\n"},
	{"get", "def on_request(req, conf):\n    req.headers.get(\"X-Api-Key\")\n"},
	{"set", "def on_request(req, conf):\n    req.headers.set(\"X-User\", \"alice\")\n"},
	{"bench_filter", benchFilter},
}

// scriptOpRunner returns one call of the script src on the realistic
// request, checked once.
func scriptOpRunner(b *testing.B, src string) func() {
	e, _ := newEngine(b, engine.Config{}, map[string]string{"s": src})
	chain := newChain(b, e, []string{"s"}, map[string]string{"s": `{"header": "X-Api-Key", "key": "secret"}`})
	req := newRequest(1)
	var d bindings.Decision
	if res := e.RunRequest(chain, req, &d); res.Outcome != engine.Continue && res.Outcome != engine.Rewrite {
		b.Fatalf("got outcome %v (%v)", res.Outcome, res.Err)
	}
	return func() { e.RunRequest(chain, req, &d) }
}

// BenchmarkScriptOps measures the operations of scriptOps one by one
// (docs/bench.md compares them with their cost under load).
func BenchmarkScriptOps(b *testing.B) {
	for _, sc := range scriptOps {
		b.Run(sc.name, func(b *testing.B) {
			run := scriptOpRunner(b, sc.src)
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
		})
	}
}

// BenchmarkScriptOpsCold is BenchmarkScriptOps with the processor's caches
// emptied before each call, as they are under load, where the kernel, the
// load generator and the other connections run between two calls of one
// connection. Its call-ns metric is the time of the call alone; ns/op
// also counts the eviction.
func BenchmarkScriptOpsCold(b *testing.B) {
	// More than the L2 cache of a core of the machine in docs/bench.md.
	evict := make([]byte, 4<<20)
	for _, sc := range scriptOps {
		b.Run(sc.name, func(b *testing.B) {
			run := scriptOpRunner(b, sc.src)
			var took time.Duration
			for b.Loop() {
				for i := 0; i < len(evict); i += 64 {
					evict[i]++
				}
				start := time.Now()
				run()
				took += time.Since(start)
			}
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "call-ns")
		})
	}
}

// BenchmarkRunRequestParallel runs the allow path from as many goroutines
// as processors, as the connections of a busy runner do: what it adds
// over BenchmarkRunRequest is the cost of state the calls share.
func BenchmarkRunRequestParallel(b *testing.B) {
	e, chain := benchChain(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := newRequest(1)
		var d bindings.Decision
		for pb.Next() {
			if res := e.RunRequest(chain, req, &d); res.Outcome != engine.Rewrite {
				b.Errorf("got outcome %v (%v), want rewrite", res.Outcome, res.Err)
				return
			}
		}
	})
}

// maxAllowAllocs is the measured allocation count of one allow-path call
// of the reference filter (go1.26, amd64): the interpreter allocates the
// handler's frame and copies the arguments of each builtin call
// (headers.get, headers.set). Header names are compared without lowering,
// header values come from the view's string cache, arguments are unpacked
// without UnpackArgs' escaping pointers, and changes are recorded into a
// reused arena, so none of those allocate.
const maxAllowAllocs = 3

func TestAllocsRunRequestAllow(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a full, non-race run")
	}
	e, chain := benchChain(t)
	req := newRequest(1)
	var d bindings.Decision
	if res := e.RunRequest(chain, req, &d); res.Outcome != engine.Rewrite {
		t.Fatalf("got outcome %v (%v), want rewrite", res.Outcome, res.Err)
	}
	got := testing.AllocsPerRun(200, func() { e.RunRequest(chain, req, &d) })
	if got > maxAllowAllocs {
		t.Errorf("got %v allocations per call, want at most %d", got, maxAllowAllocs)
	}
}
