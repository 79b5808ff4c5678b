package bindings

import (
	"maps"
	"strings"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// entry is one name/value pair of a fake host message.
type entry struct {
	name, value string
	noValue     bool // an argument without '='
}

// fakeEntries implements Entries over a slice.
type fakeEntries []entry

func (f fakeEntries) Len() int { return len(f) }

func (f fakeEntries) At(i int) (name, value []byte, hasValue bool) {
	e := f[i]
	return []byte(e.name), []byte(e.value), !e.noValue
}

// kv is shorthand for a header or argument with a value.
func kv(name, value string) entry { return entry{name: name, value: value} }

// fakeFetcher answers var() from a map and body() from a slice, counting
// how often the host is asked.
type fakeFetcher struct {
	vars     map[string]string
	body     []byte
	hasBody  bool
	varCalls map[string]int
	bodyN    int
}

func (f *fakeFetcher) Var(name string) ([]byte, bool, error) {
	if f.varCalls == nil {
		f.varCalls = make(map[string]int)
	}
	f.varCalls[name]++
	v, ok := f.vars[name]
	return []byte(v), ok, nil
}

func (f *fakeFetcher) Body() ([]byte, bool, error) {
	f.bodyN++
	return f.body, f.hasBody, nil
}

// fakeRequest implements Request.
type fakeRequest struct {
	fakeFetcher
	id      uint32
	method  string
	path    string
	srcIP   []byte
	headers fakeEntries
	args    fakeEntries
}

func (r *fakeRequest) ID() uint32       { return r.id }
func (r *fakeRequest) Method() string   { return r.method }
func (r *fakeRequest) Path() []byte     { return []byte(r.path) }
func (r *fakeRequest) SrcIP() []byte    { return r.srcIP }
func (r *fakeRequest) Headers() Entries { return r.headers }
func (r *fakeRequest) Args() Entries    { return r.args }

// fakeResponse implements Response.
type fakeResponse struct {
	fakeFetcher
	id      uint32
	status  int
	headers fakeEntries
}

func (r *fakeResponse) ID() uint32       { return r.id }
func (r *fakeResponse) Status() int      { return r.status }
func (r *fakeResponse) Headers() Entries { return r.headers }

var (
	_ Request  = (*fakeRequest)(nil)
	_ Response = (*fakeResponse)(nil)
	_ Entries  = fakeEntries(nil)
)

// newFakeRequest returns a request with a few headers and arguments.
func newFakeRequest() *fakeRequest {
	return &fakeRequest{
		id:     42,
		method: "GET",
		path:   "/api/v1",
		srcIP:  []byte{127, 0, 0, 1},
		headers: fakeEntries{
			kv("Host", "example.com"),
			kv("accept", "text/html"),
			kv("X-Multi", "1"),
			kv("x-multi", "2"),
			kv("Content-Type", "text/plain"),
		},
		args: fakeEntries{
			kv("a", "1"),
			kv("a", "2"),
			kv("y", ""),
			{name: "z", noValue: true},
			kv("B", "3"),
		},
		fakeFetcher: fakeFetcher{
			vars: map[string]string{"remote_addr": "10.0.0.1", "empty": ""},
		},
	}
}

var testFileOptions = syntax.FileOptions{Set: true, While: true}

// exec runs src with the predeclared names plus extra and returns its
// (frozen) globals.
func exec(t *testing.T, src string, extra starlark.StringDict) (starlark.StringDict, error) {
	t.Helper()
	thread := &starlark.Thread{
		Name:  t.Name(),
		Print: func(_ *starlark.Thread, msg string) { t.Log(msg) },
	}
	pre := Predeclared()
	maps.Copy(pre, extra)
	return starlark.ExecFileOptions(&testFileOptions, thread, "test.star", src, pre)
}

// evalCase is one snippet: setup statements, then got = expr.
type evalCase struct {
	name    string
	setup   string
	expr    string
	want    string // Starlark repr of got
	wantErr string // substring of the error, when the snippet must fail
}

// runEvalCases runs each case on a fresh value made by mk, bound to
// varName.
func runEvalCases(t *testing.T, varName string, mk func() starlark.Value, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.setup + "\n"
			if tc.expr != "" {
				src += "got = " + tc.expr + "\n"
			}
			globals, err := exec(t, src, starlark.StringDict{varName: mk()})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tc.expr == "" {
				return
			}
			if got := globals["got"].String(); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// newReq returns a RequestValue reset on src.
func newReq(src Request, limits Limits) *RequestValue {
	r := NewRequestValue()
	r.Reset(src, limits)
	return r
}
