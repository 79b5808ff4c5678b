package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/internal/redisstore"
)

// The conformance table: sequences of Store calls with the results every
// backend must give. TestConformance runs it against bindings.MemoryStore
// and the Redis store, on the real clock (the memory store's now is
// time.Now(), Redis's is its own), so expiry is observed by polling.

// step is one call. Values are Starlark expressions ("" is nil: absent,
// or delete).
type step struct {
	op       string // get, set, incr, delete, cas, allow; expire (poll until get is absent); pause
	key      string
	val, old string
	delta    int64
	ttl      time.Duration
	rate     float64
	per      time.Duration
	burst    float64
	want     string // repr of the result; "absent" for a nil value
	err      string // substring of the wanted error
}

const hour = time.Hour

var conformance = []struct {
	name  string
	steps []step
}{
	{"get absent", []step{{op: "get", key: "k", want: "absent"}}},
	{"set then get", []step{
		{op: "set", key: "k", val: `{"a": [1, 2.5, "x", b"y", None, True]}`},
		{op: "get", key: "k", want: `{"a": [1, 2.5, "x", b"y", None, True]}`},
	}},
	{"set replaces", []step{
		{op: "set", key: "k", val: `1`},
		{op: "set", key: "k", val: `"one"`},
		{op: "get", key: "k", want: `"one"`},
	}},
	{"set nil deletes", []step{
		{op: "set", key: "k", val: `1`},
		{op: "set", key: "k"},
		{op: "get", key: "k", want: "absent"},
	}},
	{"set unsupported type", []step{
		{op: "set", key: "k", val: `(1, 2)`, err: "got tuple, want None"},
		{op: "get", key: "k", want: "absent"},
	}},
	{"incr creates", []step{
		{op: "incr", key: "k", delta: 5, want: "5"},
		{op: "get", key: "k", want: "5"},
	}},
	{"incr zero creates", []step{
		{op: "incr", key: "k", delta: 0, want: "0"},
		{op: "get", key: "k", want: "0"},
	}},
	{"incr existing", []step{
		{op: "set", key: "k", val: `10`},
		{op: "incr", key: "k", delta: -3, want: "7"},
		{op: "incr", key: "k", delta: 1, want: "8"},
		{op: "get", key: "k", want: "8"},
	}},
	{"incr str", []step{
		{op: "set", key: "k", val: `"x"`},
		{op: "incr", key: "k", delta: 1, err: `value of "k" is string, want int`},
		{op: "get", key: "k", want: `"x"`},
	}},
	{"incr float", []step{
		{op: "set", key: "k", val: `1.0`},
		{op: "incr", key: "k", delta: 1, err: `value of "k" is float, want int`},
	}},
	{"incr list", []step{
		{op: "set", key: "k", val: `[1]`},
		{op: "incr", key: "k", delta: 1, err: `value of "k" is list, want int`},
	}},
	{"incr overflow", []step{
		{op: "set", key: "k", val: `9223372036854775807`},
		{op: "incr", key: "k", delta: 1, err: "9223372036854775807 + 1 overflows int64"},
		{op: "get", key: "k", want: "9223372036854775807"},
	}},
	{"incr underflow", []step{
		{op: "set", key: "k", val: `-9223372036854775808`},
		{op: "incr", key: "k", delta: -1, err: "-9223372036854775808 + -1 overflows int64"},
	}},
	{"delete", []step{
		{op: "delete", key: "k", want: "False"},
		{op: "set", key: "k", val: `[]`},
		{op: "delete", key: "k", want: "True"},
		{op: "get", key: "k", want: "absent"},
		{op: "delete", key: "k", want: "False"},
	}},
	{"cas absent to value", []step{
		{op: "cas", key: "k", val: `1`, want: "True"},
		{op: "cas", key: "k", val: `2`, want: "False"},
		{op: "get", key: "k", want: "1"},
	}},
	{"cas match", []step{
		{op: "set", key: "k", val: `{"a": [1, 2], "b": "c"}`},
		{op: "cas", key: "k", old: `{"a": [1, 2], "b": "c"}`, val: `"x"`, want: "True"},
		{op: "get", key: "k", want: `"x"`},
	}},
	{"cas mismatch", []step{
		{op: "set", key: "k", val: `1`},
		{op: "cas", key: "k", old: `2`, val: `3`, want: "False"},
		{op: "get", key: "k", want: "1"},
	}},
	{"cas int written by incr", []step{
		{op: "incr", key: "k", delta: 41, want: "41"},
		{op: "cas", key: "k", old: `41`, val: `42`, want: "True"},
		{op: "incr", key: "k", delta: 1, want: "43"},
	}},
	{"cas wants value but absent", []step{
		{op: "cas", key: "k", old: `1`, val: `2`, want: "False"},
		{op: "get", key: "k", want: "absent"},
	}},
	{"cas deletes", []step{
		{op: "set", key: "k", val: `"v"`},
		{op: "cas", key: "k", old: `"v"`, want: "True"},
		{op: "get", key: "k", want: "absent"},
	}},
	{"cas absent to absent", []step{
		{op: "cas", key: "k", want: "True"},
		{op: "get", key: "k", want: "absent"},
	}},
	{"allow burst", []step{
		{op: "allow", key: "k", rate: 1, per: hour, burst: 3, want: "True"},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 3, want: "True"},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 3, want: "True"},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 3, want: "False"},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 3, want: "False"},
	}},
	{"allow fractional burst", []step{
		{op: "allow", key: "k", rate: 1, per: hour, burst: 2.5, want: "True"},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 2.5, want: "True"},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 2.5, want: "False"},
	}},
	{"allow buckets are separate", []step{
		{op: "allow", key: "a", rate: 1, per: hour, burst: 1, want: "True"},
		{op: "allow", key: "a", rate: 1, per: hour, burst: 1, want: "False"},
		{op: "allow", key: "b", rate: 1, per: hour, burst: 1, want: "True"},
	}},
	{"allow has its own namespace", []step{
		{op: "set", key: "k", val: `"value"`},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 1, want: "True"},
		{op: "get", key: "k", want: `"value"`},
		{op: "delete", key: "k", want: "True"},
		{op: "allow", key: "k", rate: 1, per: hour, burst: 1, want: "False"},
	}},
	{"allow refills", []step{
		{op: "allow", key: "k", rate: 20, per: time.Second, burst: 1, want: "True"},
		{op: "allow", key: "k", rate: 20, per: time.Second, burst: 1, want: "False"},
		{op: "refill", key: "k", rate: 20, per: time.Second, burst: 1},
	}},
	{"allow bad rate", []step{
		{op: "allow", key: "k", rate: 0, per: hour, burst: 1, err: "token bucket: got rate 0"},
	}},
	{"allow bad burst", []step{
		{op: "allow", key: "k", rate: 1, per: hour, burst: 0.5, err: "want rate > 0, per > 0, burst >= 1"},
	}},
	{"set ttl expires", []step{
		{op: "set", key: "k", val: `"soon gone"`, ttl: 50 * time.Millisecond},
		{op: "expire", key: "k"},
	}},
	{"set without ttl keeps the key", []step{
		{op: "set", key: "k", val: `1`, ttl: 30 * time.Millisecond},
		{op: "set", key: "k", val: `2`},
		{op: "pause", ttl: 60 * time.Millisecond},
		{op: "get", key: "k", want: "2"},
	}},
	{"incr ttl on create", []step{
		{op: "incr", key: "k", delta: 1, ttl: 80 * time.Millisecond, want: "1"},
		{op: "incr", key: "k", delta: 1, want: "2"},
		{op: "expire", key: "k"},
		{op: "incr", key: "k", delta: 1, want: "1"},
	}},
	{"incr keeps an existing key's ttl", []step{
		{op: "set", key: "k", val: `5`},
		{op: "incr", key: "k", delta: 1, ttl: 30 * time.Millisecond, want: "6"},
		{op: "pause", ttl: 60 * time.Millisecond},
		{op: "get", key: "k", want: "6"},
	}},
	{"cas ttl", []step{
		{op: "cas", key: "k", val: `"lock"`, ttl: 50 * time.Millisecond, want: "True"},
		{op: "cas", key: "k", val: `"lock"`, ttl: 50 * time.Millisecond, want: "False"},
		{op: "expire", key: "k"},
		{op: "cas", key: "k", val: `"lock"`, want: "True"},
	}},
}

// runConformance runs the table against the stores newStore returns, a
// new one per case.
func runConformance(t *testing.T, newStore func(t *testing.T) bindings.Store) {
	for _, tc := range conformance {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			for i, st := range tc.steps {
				got, err := runStep(t, s, st)
				switch {
				case st.err != "" && (err == nil || !strings.Contains(err.Error(), st.err)):
					t.Fatalf("step %d %s %s: got (%s, %v), want error %q", i, st.op, st.key, got, err, st.err)
				case st.err == "" && err != nil:
					t.Fatalf("step %d %s %s: %v", i, st.op, st.key, err)
				case st.err == "" && got != st.want:
					t.Fatalf("step %d %s %s: got %s, want %s", i, st.op, st.key, got, st.want)
				}
			}
		})
	}
}

// runStep makes the call of st and renders its result.
func runStep(t *testing.T, s bindings.Store, st step) (string, error) {
	ctx := context.Background()
	switch st.op {
	case "get":
		v, err := s.Get(ctx, st.key, time.Now())
		return reprOrAbsent(v), err
	case "set":
		return "", s.Set(ctx, st.key, value(t, st.val), st.ttl, time.Now())
	case "incr":
		n, err := s.Incr(ctx, st.key, st.delta, st.ttl, time.Now())
		return fmt.Sprint(n), err
	case "delete":
		ok, err := s.Delete(ctx, st.key, time.Now())
		return starlark.Bool(ok).String(), err
	case "cas":
		ok, err := s.CompareAndSet(ctx, st.key, value(t, st.old), value(t, st.val), st.ttl, time.Now())
		return starlark.Bool(ok).String(), err
	case "allow":
		ok, err := s.Allow(ctx, st.key, st.rate, st.per, st.burst, time.Now())
		return starlark.Bool(ok).String(), err
	case "refill":
		return "", pollFor(5*time.Second, func() (bool, error) {
			return s.Allow(ctx, st.key, st.rate, st.per, st.burst, time.Now())
		})
	case "expire":
		return "", pollFor(5*time.Second, func() (bool, error) {
			v, err := s.Get(ctx, st.key, time.Now())
			return v == nil, err
		})
	case "pause":
		time.Sleep(st.ttl) // waiting for something not to happen
		return "", nil
	}
	t.Fatalf("unknown op %q", st.op)
	return "", nil
}

// pollFor calls f until it reports true, fails, or the time is up.
func pollFor(d time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := f()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// value evaluates a Starlark expression to a shared value ("" is nil).
func value(t testing.TB, expr string) starlark.Value {
	t.Helper()
	if expr == "" {
		return nil
	}
	v, err := starlark.EvalOptions(&syntax.FileOptions{}, &starlark.Thread{}, "value", expr, nil)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if _, ok := v.(starlark.Tuple); ok { // not a shared value: for the error cases
		return v
	}
	c, _, err := bindings.SharedValue(v)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return c
}

func reprOrAbsent(v starlark.Value) string {
	if v == nil {
		return "absent"
	}
	return v.String()
}

func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		runConformance(t, func(*testing.T) bindings.Store {
			return bindings.NewMemoryStore(bindings.MemoryStoreConfig{})
		})
	})
	t.Run("redis", func(t *testing.T) {
		srv := startServer(t)
		runConformance(t, func(t *testing.T) bindings.Store {
			return newStore(t, srv, redisstore.Config{})
		})
	})
}
