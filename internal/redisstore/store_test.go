package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.starlark.net/starlark"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scriptrunner/scriptrunner/internal/redisstore"
)

// newStore returns a Store on srv, closed when t ends. Unless cfg names
// one, its KeyPrefix is the test's own, so tests sharing a server do not
// see each other's keys, and its timeouts are 5 s.
func newStore(t testing.TB, srv *server, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	s, _ := newObservedStore(t, srv, cfg)
	return s
}

// newObservedStore is newStore with the store's log observed.
func newObservedStore(t testing.TB, srv *server, cfg redisstore.Config) (*redisstore.Store, *observer.ObservedLogs) {
	t.Helper()
	cfg.Addr = srv.Addr()
	// Generous timeouts: -race and parallel tests slow everything down.
	for _, d := range []*time.Duration{&cfg.DialTimeout, &cfg.ReadTimeout, &cfg.WriteTimeout} {
		if *d == 0 {
			*d = 5 * time.Second
		}
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "test:" + t.Name() + ":"
	}
	core, logs := observer.New(zapcore.DebugLevel)
	s, err := redisstore.New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// client returns a plain client of srv, to look at what the store wrote.
func client(t testing.TB, srv *server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

var ctx = context.Background()

func TestMain(m *testing.M) {
	redisstore.SetClientLog(zap.NewNop())
	os.Exit(m.Run())
}

func TestRoundTrip(t *testing.T) {
	srv := startServer(t)
	s := newStore(t, srv, redisstore.Config{})
	for _, tc := range roundTripValues {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.v
			if want == nil {
				want = value(t, tc.expr)
			}
			if err := s.Set(ctx, "k", want, 0, time.Now()); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "k", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if msg := sameValue(got, want); msg != "" {
				t.Errorf("got %s, want %s: %s", got, want, msg)
			}
		})
	}
}

// roundTripValues covers every shared value type and its corners.
var roundTripValues = []struct {
	name, expr string
	v          starlark.Value // instead of expr
}{
	{name: "None", expr: `None`},
	{name: "True", expr: `True`},
	{name: "False", expr: `False`},
	{name: "zero", expr: `0`},
	{name: "int", expr: `42`},
	{name: "negative int", expr: `-7`},
	{name: "max int64", expr: `9223372036854775807`},
	{name: "min int64", expr: `-9223372036854775808`},
	{name: "float", expr: `1.5`},
	{name: "integral float", expr: `1.0`},
	{name: "negative zero", expr: `-0.0`},
	{name: "tiny float", expr: `5e-324`},
	{name: "huge float", expr: `1.7976931348623157e308`},
	{name: "inf", expr: `float("inf")`},
	{name: "negative inf", expr: `float("-inf")`},
	{name: "nan", expr: `float("nan")`},
	{name: "empty str", expr: `""`},
	{name: "str", expr: `"héllo, wörld ✓"`},
	{name: "str that looks like an int", expr: `"12"`},
	{name: "invalid UTF-8 str", v: starlark.String("\xff\xfeok\x80")},
	{name: "str with NUL", expr: `"a\x00b"`},
	{name: "invalid UTF-8 in a dict", v: frozenDict("k\xc3", starlark.String("\xc3("))},
	{name: "empty bytes", expr: `b""`},
	{name: "bytes", expr: `b"\x00\x01\xff" + bytes("text")`},
	{name: "empty list", expr: `[]`},
	{name: "list", expr: `[None, True, 1, -1.5, "s", b"b", [], {}]`},
	{name: "ints in a list", expr: `[0, 1, -1, 9223372036854775807, -9223372036854775808]`},
	{name: "empty dict", expr: `{}`},
	{name: "dict order", expr: `{"z": 1, "a": 2, "m": 3}`},
	{name: "nested", expr: `{"users": [{"name": "a", "tags": ["x"]}, {"name": "b", "score": 1.25}], "": None}`},
	{name: "deep", expr: `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`},
	{name: "long str", expr: `"x" * 60000`},
}

// sameValue reports how got differs from want in type, value, float bits
// or dict order ("" if it does not).
func sameValue(got, want starlark.Value) string {
	if got.Type() != want.Type() {
		return "type " + got.Type() + ", want " + want.Type()
	}
	switch w := want.(type) {
	case starlark.Float:
		if math.Float64bits(float64(got.(starlark.Float))) != math.Float64bits(float64(w)) {
			return "float bits differ"
		}
	case *starlark.List:
		g := got.(*starlark.List)
		if g.Len() != w.Len() {
			return "list length differs"
		}
		for i := range w.Len() {
			if msg := sameValue(g.Index(i), w.Index(i)); msg != "" {
				return msg
			}
		}
	case *starlark.Dict:
		g := got.(*starlark.Dict)
		gk, wk := g.Keys(), w.Keys()
		if len(gk) != len(wk) {
			return "dict length differs"
		}
		for i := range wk {
			if gk[i] != wk[i] {
				return "dict keys differ or are in another order"
			}
			gv, _, _ := g.Get(gk[i])
			wv, _, _ := w.Get(wk[i])
			if msg := sameValue(gv, wv); msg != "" {
				return msg
			}
		}
	default:
		if eq, err := starlark.Equal(got, want); err != nil || !eq {
			return "not equal"
		}
	}
	return ""
}

func TestGetReturnsFrozen(t *testing.T) {
	srv := startServer(t)
	s := newStore(t, srv, redisstore.Config{})
	if err := s.Set(ctx, "k", value(t, `{"a": [1]}`), 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	v, err := s.Get(ctx, "k", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*starlark.Dict)
	if err := d.SetKey(starlark.String("b"), starlark.None); err == nil {
		t.Error("got a mutable dict, want a frozen one")
	}
	l, _, _ := d.Get(starlark.String("a"))
	if err := l.(*starlark.List).Append(starlark.None); err == nil {
		t.Error("got a mutable list inside, want a frozen one")
	}
}

// TestKeys checks the keys and encodings operators see in Redis.
func TestKeys(t *testing.T) {
	srv := startServer(t)
	s := newStore(t, srv, redisstore.Config{KeyPrefix: "app:"})
	c := client(t, srv)
	now := time.Now()
	if err := s.Set(ctx, "n", starlark.MakeInt(42), 10*time.Second, now); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, "s", starlark.String("hi"), 0, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allow(ctx, "n", 1, time.Minute, 5, now); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	if got, want := strings.Join(keys, " "), "app:ratelimit:n app:shared:n app:shared:s"; got != want {
		t.Errorf("keys: got %s, want %s", got, want)
	}
	if got, _ := c.Get(ctx, "app:shared:n").Result(); got != "42" {
		t.Errorf("int: got %q, want %q", got, "42")
	}
	if got, _ := c.Get(ctx, "app:shared:s").Result(); got != "s\x02hi" {
		t.Errorf("str: got %q, want %q", got, "s\x02hi")
	}
	if ttl, _ := c.PTTL(ctx, "app:shared:n").Result(); ttl <= 9*time.Second || ttl > 10*time.Second {
		t.Errorf("ttl of a value: got %v, want about 10s", ttl)
	}
	if ttl, _ := c.PTTL(ctx, "app:shared:s").Result(); ttl != -1 {
		t.Errorf("ttl of a value without: got %v, want -1 (none)", ttl)
	}
	// One of 5 tokens taken at 1 a minute: full again in a minute.
	if ttl, _ := c.PTTL(ctx, "app:ratelimit:n").Result(); ttl <= 59*time.Second || ttl > time.Minute {
		t.Errorf("ttl of a bucket: got %v, want about 1m", ttl)
	}
	// A value written by another client is an error, not a crash.
	c.Set(ctx, "app:shared:bad", "\xffgarbage", 0)
	if _, err := s.Get(ctx, "bad", now); err == nil || !strings.Contains(err.Error(), "not in scriptrunner's encoding") {
		t.Errorf("foreign value: got %v, want an encoding error", err)
	}
	c.HSet(ctx, "app:shared:hash", "f", "v")
	if _, err := s.Incr(ctx, "hash", 1, 0, now); err == nil || errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("incr on a hash: got %v, want a WRONGTYPE error that is not ErrUnavailable", err)
	}
}

// TestIncrConcurrent: 32 goroutines on two stores never lose an update.
func TestIncrConcurrent(t *testing.T) {
	srv := startServer(t)
	a := newStore(t, srv, redisstore.Config{KeyPrefix: "shared-by-two:"})
	b := newStore(t, srv, redisstore.Config{KeyPrefix: "shared-by-two:"})
	const goroutines, each = 32, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for range each {
				if _, err := s.Incr(ctx, "hits", 1, time.Hour, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := a.Get(ctx, "hits", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := starlark.MakeInt(goroutines * each); got == nil || got.String() != want.String() {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestAllowSharedByTwoStores: two runners' stores on one Redis admit
// together exactly the burst of one bucket.
func TestAllowSharedByTwoStores(t *testing.T) {
	srv := startServer(t)
	stores := []*redisstore.Store{
		newStore(t, srv, redisstore.Config{KeyPrefix: "fleet:"}),
		newStore(t, srv, redisstore.Config{KeyPrefix: "fleet:"}),
	}
	const burst, goroutines, tries = 10, 32, 10
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		s := stores[g%2]
		wg.Go(func() {
			for range tries {
				ok, err := s.Allow(ctx, "api", 5, time.Hour, burst, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	// 320 tries in well under a second; the bucket refills 5 an hour.
	if got := admitted.Load(); got != burst {
		t.Errorf("admitted %d, want exactly %d", got, burst)
	}
}

// countingObserver counts ObserveStoreError calls by op.
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countingObserver) ObserveStoreError(op string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[op]++
}

func (o *countingObserver) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for k, v := range o.n {
		out[k] = v
	}
	return out
}

// opResults calls every method once and renders the results.
func opResults(s *redisstore.Store) map[string]string {
	now := time.Now()
	out := map[string]string{}
	v, err := s.Get(ctx, "k", now)
	if v == nil {
		out["get"] = render("absent", err)
	} else {
		out["get"] = render(v, err)
	}
	out["set"] = render(nil, s.Set(ctx, "k", starlark.MakeInt(1), 0, now))
	n, err := s.Incr(ctx, "n", 3, 0, now)
	out["incr"] = render(n, err)
	ok, err := s.Delete(ctx, "k", now)
	out["delete"] = render(ok, err)
	ok, err = s.CompareAndSet(ctx, "k", nil, starlark.MakeInt(1), 0, now)
	out["cas"] = render(ok, err)
	ok, err = s.Allow(ctx, "b", 1, time.Hour, 1, now)
	out["allow"] = render(ok, err)
	return out
}

// render renders a method's result for opResults.
func render(v any, err error) string {
	if errors.Is(err, redisstore.ErrUnavailable) {
		return "ErrUnavailable"
	}
	if err != nil {
		return "error: " + err.Error()
	}
	switch x := v.(type) {
	case nil:
		return "ok"
	case starlark.Value:
		return reprOrAbsent(x)
	case bool:
		return starlark.Bool(x).String()
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprint(v)
}

var (
	upResults = map[string]string{"get": "absent", "set": "ok", "incr": "3", "delete": "True", "cas": "True", "allow": "True"}
	// closedResults: every operation fails.
	closedResults = map[string]string{"get": "ErrUnavailable", "set": "ErrUnavailable", "incr": "ErrUnavailable",
		"delete": "ErrUnavailable", "cas": "ErrUnavailable", "allow": "ErrUnavailable"}
	// openResults: nothing fails; as if Redis were empty and took every write.
	openResults = map[string]string{"get": "absent", "set": "ok", "incr": "3", "delete": "False", "cas": "False", "allow": "True"}
)

func checkResults(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for op, w := range want {
		if got[op] != w {
			t.Errorf("%s: %s: got %s, want %s", what, op, got[op], w)
		}
	}
}

// TestRedisKilled: Redis dies mid-test, the policy applies, and the same
// stores work again once it is back on the same port.
func TestRedisKilled(t *testing.T) {
	srv := startServer(t)
	for _, policy := range []redisstore.Policy{redisstore.PolicyClosed, redisstore.PolicyOpen} {
		t.Run(string(policy), func(t *testing.T) {
			obs := &countingObserver{}
			// PoolSize 2: the 18 failures below open the client's dial
			// circuit breaker, and recovery goes through its probe.
			s, logs := newObservedStore(t, srv, redisstore.Config{Policy: policy, Observer: obs, PoolSize: 2})
			checkResults(t, "up", opResults(s), upResults)

			srv.kill()
			want := closedResults
			if policy == redisstore.PolicyOpen {
				want = openResults
			}
			start := time.Now()
			for range 3 {
				checkResults(t, "down", opResults(s), want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("18 operations on a dead server took %v", d)
			}
			for op, n := range obs.counts() {
				if n != 3 {
					t.Errorf("observer: %s counted %d times, want 3", op, n)
				}
			}
			if got := len(obs.counts()); got != 6 {
				t.Errorf("observer: got %d ops, want 6: %v", got, obs.counts())
			}
			warns := logs.FilterMessage("redis store unavailable").All()
			if len(warns) != 1 {
				t.Fatalf("got %d unavailable lines for 18 failures, want 1 (rate-limited)", len(warns))
			}
			if got := warns[0].ContextMap()["policy"]; got != string(policy) {
				t.Errorf("log policy: got %v, want %s", got, policy)
			}

			srv.restart()
			restarted := time.Now()
			if err := pollFor(10*time.Second, func() (bool, error) { return s.Ping(ctx) == nil, nil }); err != nil {
				t.Fatalf("store did not reconnect: %v", err)
			}
			t.Logf("reconnected %v after the restart", time.Since(restarted).Round(time.Millisecond))
			checkResults(t, "back up", opResults(s), upResults)
			if n := logs.FilterMessage("redis store available again").Len(); n != 1 {
				t.Errorf("got %d available-again lines, want 1", n)
			}
		})
	}
}

// TestRedisHung: a server that stops answering times the calls out after
// ReadTimeout; the policy applies, and calls work again when it resumes.
func TestRedisHung(t *testing.T) {
	srv := startServer(t)
	const timeout = 50 * time.Millisecond
	closed := newStore(t, srv, redisstore.Config{ReadTimeout: timeout, KeyPrefix: "hung:closed:"})
	open := newStore(t, srv, redisstore.Config{ReadTimeout: timeout, KeyPrefix: "hung:open:", Policy: redisstore.PolicyOpen})
	checkResults(t, "up", opResults(closed), upResults)
	checkResults(t, "up", opResults(open), upResults)

	srv.pause()
	start := time.Now()
	ok, err := closed.Allow(ctx, "x", 1, time.Hour, 1, time.Now())
	if !errors.Is(err, redisstore.ErrUnavailable) || ok {
		t.Errorf("closed allow: got (%v, %v), want ErrUnavailable", ok, err)
	}
	if ok, err := open.Allow(ctx, "x", 1, time.Hour, 1, time.Now()); !ok || err != nil {
		t.Errorf("open allow: got (%v, %v), want (true, nil)", ok, err)
	}
	if d := time.Since(start); d > 20*timeout {
		t.Errorf("two calls to a hung server took %v, want about 2 × %v", d, timeout)
	}

	srv.resume()
	for _, s := range []*redisstore.Store{closed, open} {
		if err := pollFor(10*time.Second, func() (bool, error) { return s.Ping(ctx) == nil, nil }); err != nil {
			t.Fatalf("store did not recover: %v", err)
		}
	}
	if _, err := closed.Incr(ctx, "after", 1, 0, time.Now()); err != nil {
		t.Errorf("closed after resume: %v", err)
	}
}

func TestNewRejectsPolicy(t *testing.T) {
	_, err := redisstore.New(redisstore.Config{Policy: "ajar"}, nil)
	if err == nil || !strings.Contains(err.Error(), `policy "ajar": want closed or open`) {
		t.Errorf("got %v, want a policy error", err)
	}
}

// TestPingUnreachable: Ping reports a server that is not there, whatever
// the policy, and counts it.
func TestPingUnreachable(t *testing.T) {
	obs := &countingObserver{}
	s, err := redisstore.New(redisstore.Config{Addr: "127.0.0.1:1", Policy: redisstore.PolicyOpen, Observer: obs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Error("ping: got nil, want an error")
	}
	if got := obs.counts()["ping"]; got != 1 {
		t.Errorf("observer: got %d pings, want 1", got)
	}
}

// frozenDict returns a frozen dict of one entry.
func frozenDict(k string, v starlark.Value) *starlark.Dict {
	d := starlark.NewDict(1)
	d.SetKey(starlark.String(k), v)
	d.Freeze()
	return d
}
