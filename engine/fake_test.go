package engine_test

import (
	"runtime"
	"testing"
	"testing/fstest"
	"time"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/engine"
)

// entry is one host header or argument, kept as bytes so that At does
// not allocate (benchmarks count allocations).
type entry struct {
	name, value []byte
	hasValue    bool
}

// entries implements bindings.Entries. When panicAt is set, At panics,
// standing in for a host accessor that fails.
type entries struct {
	list    []entry
	panicAt bool
}

func (e *entries) Len() int { return len(e.list) }

func (e *entries) At(i int) ([]byte, []byte, bool) {
	if e.panicAt {
		panic("fake: At failed")
	}
	x := &e.list[i]
	return x.name, x.value, x.hasValue
}

func makeEntries(pairs ...string) entries {
	var e entries
	for i := 0; i < len(pairs); i += 2 {
		e.list = append(e.list, entry{name: []byte(pairs[i]), value: []byte(pairs[i+1]), hasValue: true})
	}
	return e
}

// fetcher answers var() from a map and body() from a slice. It is safe
// for concurrent use only when each goroutine has its own.
type fetcher struct {
	vars map[string]string
	body []byte
}

func (f *fetcher) Var(name string) ([]byte, bool, error) {
	v, ok := f.vars[name]
	return []byte(v), ok, nil
}

func (f *fetcher) Body() ([]byte, bool, error) { return f.body, f.body != nil, nil }

// request implements bindings.Request.
type request struct {
	fetcher
	id      uint32
	method  string
	path    []byte
	srcIP   []byte
	headers entries
	args    entries
}

func (r *request) ID() uint32                { return r.id }
func (r *request) Method() string            { return r.method }
func (r *request) Path() []byte              { return r.path }
func (r *request) SrcIP() []byte             { return r.srcIP }
func (r *request) Headers() bindings.Entries { return &r.headers }
func (r *request) Args() bindings.Entries    { return &r.args }

// response implements bindings.Response.
type response struct {
	fetcher
	id      uint32
	status  int
	headers entries
}

func (r *response) ID() uint32                { return r.id }
func (r *response) Status() int               { return r.status }
func (r *response) Headers() bindings.Entries { return &r.headers }

var (
	_ bindings.Request  = (*request)(nil)
	_ bindings.Response = (*response)(nil)
)

// newRequest returns a request with ten headers and three arguments.
func newRequest(id uint32) *request {
	return &request{
		id:     id,
		method: "GET",
		path:   []byte("/api/items"),
		srcIP:  []byte{10, 0, 0, 7},
		headers: makeEntries(
			"host", "example.com",
			"user-agent", "curl/8.5.0",
			"accept", "*/*",
			"accept-encoding", "gzip",
			"x-api-key", "secret",
			"x-request-id", "abc-123",
			"x-forwarded-for", "10.0.0.1",
			"content-type", "application/json",
			"cookie", "session=1",
			"cache-control", "no-cache",
		),
		args: makeEntries("page", "2", "sort", "name", "q", "x"),
	}
}

func newResponse(id uint32) *response {
	return &response{
		id:     id,
		status: 200,
		headers: makeEntries(
			"Content-Type", "text/html",
			"Set-Cookie", "a=1",
			"Content-Length", "12",
			"Set-Cookie", "b=2",
			"X-Up", "u",
		),
	}
}

// newEngine returns an engine reading scripts from files (name -> source,
// ".star" added).
func newEngine(t testing.TB, cfg engine.Config, files map[string]string) (*engine.Engine, fstest.MapFS) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, src := range files {
		fsys[name+".star"] = &fstest.MapFile{Data: []byte(src)}
	}
	cfg.FS = fsys
	return engine.New(cfg, nil), fsys
}

// newChain prepares the named scripts, each with conf value "" unless
// given in values.
func newChain(t testing.TB, e *engine.Engine, names []string, values map[string]string) engine.Chain {
	t.Helper()
	vals := make([][]byte, len(names))
	for i, n := range names {
		vals[i] = []byte(values[n])
	}
	chain, err := e.NewChain(names, vals)
	if err != nil {
		t.Fatalf("NewChain(%q): %v", names, err)
	}
	return chain
}

// checkGoroutines fails t if, after f, the number of goroutines does not
// return to what it was before f within a deadline.
func checkGoroutines(t *testing.T, f func()) {
	t.Helper()
	before := runtime.NumGoroutine()
	f()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("got %d goroutines, want at most %d:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}
