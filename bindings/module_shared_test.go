package bindings

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// stateNow is the mocked clock of the shared, ratelimit and log tests.
var stateNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// stateRun runs src with PredeclaredWith(opts) on a thread bound to info
// and returns its globals.
func stateRun(t *testing.T, pre starlark.StringDict, info *CallInfo, src string) (starlark.StringDict, error) {
	t.Helper()
	thread := &starlark.Thread{Name: t.Name(), Print: func(_ *starlark.Thread, msg string) { t.Log(msg) }}
	BindCallInfo(thread, info)
	return starlark.ExecFileOptions(&syntax.FileOptions{Set: true, While: true, TopLevelControl: true}, thread, "test.star", src, pre)
}

// stateStep is one snippet of a sequence run against one store: setup
// statements, then got = expr, at stateNow + at.
type stateStep struct {
	at      time.Duration
	src     string // statements, then got = expr
	want    string // Starlark repr of got
	wantErr string
}

// runStateSteps runs steps in order, each as its own call sharing pre.
func runStateSteps(t *testing.T, pre starlark.StringDict, steps []stateStep) {
	t.Helper()
	for i, st := range steps {
		info := &CallInfo{Script: "test", Phase: "test", Now: stateNow.Add(st.at)}
		globals, err := stateRun(t, pre, info, st.src)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("step %d (%s): got error %v, want one containing %q", i, st.src, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d (%s): got error %v, want none", i, st.src, err)
		}
		if got := globals["got"].String(); got != st.want {
			t.Errorf("step %d (%s): got %s, want %s", i, st.src, got, st.want)
		}
	}
}

func TestSharedModule(t *testing.T) {
	tests := []struct {
		name  string
		steps []stateStep
	}{
		{name: "get absent is default", steps: []stateStep{
			{src: `got = (shared.get("k"), shared.get("k", 7), shared.get("k", default="d"))`, want: `(None, 7, "d")`},
		}},
		{name: "set then get across calls", steps: []stateStep{
			{src: `got = shared.set("k", {"a": [1, 2.5, "x", b"y", None, True]})`, want: `None`},
			{at: time.Hour, src: `got = shared.get("k")`, want: `{"a": [1, 2.5, "x", b"y", None, True]}`},
		}},
		{name: "ttl expiry", steps: []stateStep{
			{src: `got = shared.set("k", "v", ttl=10)`, want: `None`},
			{at: 9999 * time.Millisecond, src: `got = shared.get("k")`, want: `"v"`},
			{at: 10 * time.Second, src: `got = shared.get("k")`, want: `None`},
		}},
		{name: "float ttl", steps: []stateStep{
			{src: `got = shared.set("k", 1, ttl=0.5)`, want: `None`},
			{at: 499 * time.Millisecond, src: `got = shared.get("k")`, want: `1`},
			{at: 500 * time.Millisecond, src: `got = shared.get("k")`, want: `None`},
		}},
		{name: "set replaces ttl", steps: []stateStep{
			{src: `shared.set("k", 1, ttl=1)
got = shared.set("k", 2)`, want: `None`},
			{at: time.Hour, src: `got = shared.get("k")`, want: `2`},
		}},
		{name: "set None deletes", steps: []stateStep{
			{src: `shared.set("k", 1)
shared.set("k", None)
got = (shared.get("k", "gone"), shared.delete("k"))`, want: `("gone", False)`},
		}},
		{name: "incr", steps: []stateStep{
			{src: `got = [shared.incr("n"), shared.incr("n"), shared.incr("n", 10), shared.incr("n", delta=-20)]`, want: `[1, 2, 12, -8]`},
			{src: `got = shared.get("n")`, want: `-8`},
		}},
		{name: "incr ttl applies at creation", steps: []stateStep{
			{src: `got = shared.incr("n", ttl=60)`, want: `1`},
			{at: 59 * time.Second, src: `got = shared.incr("n", ttl=60)`, want: `2`},
			{at: 60 * time.Second, src: `got = shared.incr("n", ttl=60)`, want: `1`},
		}},
		{name: "incr non-int", steps: []stateStep{
			{src: `shared.set("s", "x")
got = shared.incr("s")`, wantErr: `shared.incr: value of "s" is string, want int`},
		}},
		{name: "incr overflow", steps: []stateStep{
			{src: `shared.set("n", 9223372036854775807)
got = shared.incr("n")`, wantErr: "overflows int64"},
		}},
		{name: "delete", steps: []stateStep{
			{src: `shared.set("k", 1)
got = (shared.delete("k"), shared.delete("k"))`, want: `(True, False)`},
		}},
		{name: "cas", steps: []stateStep{
			{src: `got = [
    shared.cas("k", None, 1),
    shared.cas("k", None, 2),
    shared.cas("k", 2, 3),
    shared.cas("k", 1, 3),
    shared.get("k"),
]`, want: `[True, False, False, True, 3]`},
			{src: `got = (shared.cas("k", 3, None), shared.get("k", "gone"))`, want: `(True, "gone")`},
			{src: `got = shared.cas("k", None, None)`, want: `True`},
		}},
		{name: "cas deep equality", steps: []stateStep{
			{src: `shared.set("k", {"a": [1, 2]})
got = (shared.cas("k", {"a": [1, 3]}, 0), shared.cas("k", {"a": [1, 2]}, 0), shared.get("k"))`, want: `(False, True, 0)`},
		}},
		{name: "cas ttl", steps: []stateStep{
			{src: `got = shared.cas("k", None, "v", ttl=5)`, want: `True`},
			{at: 5 * time.Second, src: `got = shared.get("k")`, want: `None`},
		}},
		{name: "returned values are frozen", steps: []stateStep{
			{src: `shared.set("k", {"l": [1]})
got = shared.get("k")["l"].append(2)`, wantErr: "frozen list"},
			{src: `shared.set("k", {"l": [1]})
got = shared.get("k").update(x=1)`, wantErr: "frozen hash table"},
		}},
		{name: "stored value is a copy", steps: []stateStep{
			{src: `v = {"l": [1]}
shared.set("k", v)
v["l"].append(2)
v["new"] = 1
got = (shared.get("k"), v)`, want: `({"l": [1]}, {"l": [1, 2], "new": 1})`},
		}},
		{name: "bad values", steps: []stateStep{
			{src: `got = shared.set("k", (1, 2))`, wantErr: "shared.set: value: got tuple, want None, bool, int, float, str, bytes, or a list or dict of those"},
			{src: `got = shared.set("k", {1: 2})`, wantErr: "got dict key of type int, want str"},
			{src: `got = shared.set("k", [len])`, wantErr: "got builtin_function_or_method"},
			{src: `got = shared.set("k", 1 << 64)`, wantErr: "does not fit in 64 bits"},
			{src: `l = []
l.append(l)
got = shared.set("k", l)`, wantErr: "nested more than 32 deep"},
			{src: `got = shared.cas("k", None, set([1]))`, wantErr: "shared.cas: new: got set"},
		}},
		{name: "value size bound", steps: []stateStep{
			{src: `got = shared.set("k", "x" * (65536 - 2))`, want: `None`},
			{src: `got = shared.set("k", "x" * (65536 - 1))`, wantErr: "value is larger than 65536 bytes"},
			{src: `got = shared.set("k", ["x" * 1000] * 100)`, wantErr: "value is larger than 65536 bytes"},
		}},
		{name: "bad keys and ttls", steps: []stateStep{
			{src: `got = shared.get("")`, wantErr: "got a key of 0 bytes, want 1 to 512"},
			{src: `got = shared.get("k" * 513)`, wantErr: "got a key of 513 bytes"},
			{src: `got = shared.get(1)`, wantErr: "shared.get: for parameter key: got int, want str"},
			{src: `got = shared.set("k", 1, ttl=0)`, wantErr: `for parameter "ttl": got 0 seconds, want more than 0`},
			{src: `got = shared.set("k", 1, ttl=-1.5)`, wantErr: "got -1.5 seconds"},
			{src: `got = shared.set("k", 1, ttl="1s")`, wantErr: "got string, want int or float seconds"},
			{src: `got = shared.set("k", 1, ttl=float("inf"))`, wantErr: "want more than 0 and at most"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runStateSteps(t, PredeclaredWith(Options{}), tc.steps)
		})
	}
}

func TestSharedAcrossScripts(t *testing.T) {
	pre := PredeclaredWith(Options{})
	if _, err := stateRun(t, pre, &CallInfo{Script: "a", Now: stateNow}, `shared.set("k", "from a")`); err != nil {
		t.Fatal(err)
	}
	g, err := stateRun(t, pre, &CallInfo{Script: "b", Now: stateNow}, `got = shared.get("k")`)
	if err != nil {
		t.Fatal(err)
	}
	if got := g["got"].String(); got != `"from a"` {
		t.Errorf("got %s, want \"from a\" (one namespace)", got)
	}
}

// TestSharedIncrConcurrent has 32 goroutines, each with its own thread,
// increment one key; no update may be lost.
func TestSharedIncrConcurrent(t *testing.T) {
	const workers, per = 32, 200
	pre := PredeclaredWith(Options{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			info := &CallInfo{Script: fmt.Sprint("w", w), Now: stateNow}
			src := fmt.Sprintf("for i in range(%d):\n    shared.incr(\"n\")\n", per)
			if _, err := stateRun(t, pre, info, src); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	g, err := stateRun(t, pre, &CallInfo{Now: stateNow}, `got = shared.get("n")`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g["got"].String(), fmt.Sprint(workers*per); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestSharedGetConcurrent reads one frozen value from many goroutines
// while others replace it (for -race).
func TestSharedGetConcurrent(t *testing.T) {
	pre := PredeclaredWith(Options{})
	if _, err := stateRun(t, pre, &CallInfo{Now: stateNow}, `shared.set("k", {"a": [1, 2], "b": {"c": "d"}})`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			src := `
for i in range(50):
    v = shared.get("k")
    s = json.encode(v) + str(len(v["a"])) + str(v == {"a": [1, 2], "b": {"c": "d"}})
    shared.cas("k", v, {"a": [1, 2], "b": {"c": "d"}})
`
			if w%4 == 0 {
				src = "for i in range(50):\n    shared.set(\"k\", {\"a\": [1, 2], \"b\": {\"c\": \"d\"}})\n"
			}
			if _, err := stateRun(t, pre, &CallInfo{Now: stateNow}, src); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestMemoryStoreEviction(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{MaxKeys: 3})
	for i := range 10 {
		if err := s.Set(ctx, fmt.Sprint("k", i), starlark.MakeInt(i), 0, stateNow); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Len(); got != 3 {
		t.Fatalf("got %d keys, want 3", got)
	}
	for i, want := range []bool{false, false, false, false, false, false, false, true, true, true} {
		v, _ := s.Get(ctx, fmt.Sprint("k", i), stateNow)
		if got := v != nil; got != want {
			t.Errorf("got k%d present %v, want %v", i, got, want)
		}
	}
}

func TestMemoryStoreEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{MaxKeys: 3})
	for _, k := range []string{"a", "b", "c"} {
		s.Set(ctx, k, starlark.True, 0, stateNow)
	}
	s.Get(ctx, "a", stateNow)        // a is used: b is now the oldest
	s.Incr(ctx, "c", 1, 0, stateNow) // error (bool), but c counts as used
	s.Set(ctx, "d", starlark.True, 0, stateNow)
	want := map[string]bool{"a": true, "b": false, "c": true, "d": true}
	for k, present := range want {
		v, _ := s.Get(ctx, k, stateNow)
		if got := v != nil; got != present {
			t.Errorf("got %s present %v, want %v", k, got, present)
		}
	}
}

func TestMemoryStoreEvictsExpiredFirst(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{MaxKeys: 3})
	s.Set(ctx, "old", starlark.True, 0, stateNow)
	s.Set(ctx, "short", starlark.True, time.Second, stateNow)
	s.Set(ctx, "new", starlark.True, 0, stateNow)
	s.Get(ctx, "short", stateNow) // most recently used, but about to expire
	later := stateNow.Add(time.Minute)
	s.Set(ctx, "added", starlark.True, 0, later)
	want := map[string]bool{"old": true, "short": false, "new": true, "added": true}
	for k, present := range want {
		v, _ := s.Get(ctx, k, later)
		if got := v != nil; got != present {
			t.Errorf("got %s present %v, want %v", k, got, present)
		}
	}
}

func TestMemoryStorePurgesExpired(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{})
	for i := range 10 {
		s.Set(ctx, fmt.Sprint("k", i), starlark.True, time.Second, stateNow)
	}
	s.Set(ctx, "x", starlark.True, 0, stateNow.Add(time.Hour))
	if got := s.Len(); got != 1 {
		t.Errorf("got %d keys after one write past the expiry, want 1", got)
	}
}

func TestMemoryStoreMaxBytes(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{MaxBytes: 1000})
	big := starlark.String(strings.Repeat("x", 300)) // 302 bytes + 2 of key
	for i := range 10 {
		if err := s.Set(ctx, fmt.Sprint("k", i), big, 0, stateNow); err != nil {
			t.Fatal(err)
		}
		if got := s.Bytes(); got > 1000 {
			t.Fatalf("got %d bytes after %d sets, want at most 1000", got, i+1)
		}
	}
	if got, want := s.Len(), 3; got != want {
		t.Errorf("got %d keys, want %d", got, want)
	}
	huge := starlark.String(strings.Repeat("x", 2000))
	if err := s.Set(ctx, "huge", huge, 0, stateNow); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("got %v, want a does-not-fit error", err)
	}
	if got := s.Len(); got != 3 {
		t.Errorf("got %d keys after the refused set, want 3 (nothing evicted)", got)
	}
}

func TestMemoryStoreBytesAccounting(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{})
	s.Set(ctx, "k", starlark.String("abc"), 0, stateNow) // 1 + 5
	s.Incr(ctx, "n", 5, 0, stateNow)                     // 1 + 8
	s.Allow(ctx, "b", 1, time.Second, 1, stateNow)       // 1 + 16
	if got, want := s.Bytes(), int64(6+9+17); got != want {
		t.Errorf("got %d bytes, want %d", got, want)
	}
	s.Set(ctx, "k", starlark.String("abcdef"), 0, stateNow)
	s.Delete(ctx, "n", stateNow)
	if got, want := s.Bytes(), int64(9+17); got != want {
		t.Errorf("got %d bytes, want %d", got, want)
	}
}

func TestMemoryStoreRejectsInvalidValues(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryStore(MemoryStoreConfig{})
	if err := s.Set(ctx, "k", starlark.Tuple{starlark.True}, 0, stateNow); err == nil {
		t.Errorf("got no error storing a tuple, want one")
	}
	if _, err := s.CompareAndSet(ctx, "k", nil, starlark.NewSet(0), 0, stateNow); err == nil {
		t.Errorf("got no error storing a set, want one")
	}
}

func TestSharedValue(t *testing.T) {
	l := starlark.NewList([]starlark.Value{starlark.MakeInt(1), starlark.String("ab")})
	d := starlark.NewDict(1)
	d.SetKey(starlark.String("l"), l)
	v, size, err := SharedValue(d)
	if err != nil {
		t.Fatal(err)
	}
	// dict 2 + 2 per entry, key "l" 3, list 2 + 1 per element, 1 -> 8, "ab" -> 4
	if want := 2 + 2 + 3 + 2 + 2 + 8 + 4; size != want {
		t.Errorf("got size %d, want %d", size, want)
	}
	if v == starlark.Value(d) {
		t.Errorf("got the same dict, want a copy")
	}
	if err := v.(*starlark.Dict).SetKey(starlark.String("x"), starlark.None); err == nil {
		t.Errorf("got no error changing the copy, want it frozen")
	}
	if err := d.SetKey(starlark.String("x"), starlark.None); err != nil {
		t.Errorf("got %v changing the original, want it still mutable", err)
	}
}

func BenchmarkMemoryStore(b *testing.B) {
	ctx := context.Background()
	b.Run("incr/parallel", func(b *testing.B) {
		s := NewMemoryStore(MemoryStoreConfig{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Incr(ctx, "n", 1, 0, stateNow)
			}
		})
	})
	b.Run("get/parallel", func(b *testing.B) {
		s := NewMemoryStore(MemoryStoreConfig{})
		s.Set(ctx, "k", starlark.String("value"), 0, stateNow)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Get(ctx, "k", stateNow)
			}
		})
	})
	b.Run("allow", func(b *testing.B) {
		s := NewMemoryStore(MemoryStoreConfig{})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.Allow(ctx, "k", 1e9, time.Second, 1e9, stateNow.Add(time.Duration(i)))
		}
	})
	b.Run("set/evicting", func(b *testing.B) {
		s := NewMemoryStore(MemoryStoreConfig{MaxKeys: 1000})
		keys := make([]string, 4096)
		for i := range keys {
			keys[i] = fmt.Sprint("k", i)
		}
		v := starlark.MakeInt(1)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			s.Set(ctx, keys[i%len(keys)], v, time.Minute, stateNow)
		}
	})
}
