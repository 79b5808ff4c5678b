package bindings

import (
	"fmt"
	"math"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The ratelimit module: token buckets in the shared store (Options.Store),
// so every script and every call of the process that names the same key
// draws from the same bucket. The store updates a bucket atomically. Its
// clock is the call's (CallInfo.Time). Bucket keys are a namespace of their
// own, apart from the shared module's keys.

// newRatelimitModule returns the ratelimit module over store.
func newRatelimitModule(store Store) *starlarkstruct.Module {
	m := &sharedModule{store: store}
	return &starlarkstruct.Module{Name: "ratelimit", Members: starlark.StringDict{
		"allow": starlark.NewBuiltin("ratelimit.allow", m.allow),
	}}
}

// positive unpacks an int or float greater than 0 and finite.
type positive float64

func (p *positive) Unpack(v starlark.Value) error {
	f, ok := starlark.AsFloat(v)
	if !ok {
		return fmt.Errorf("got %s, want int or float", v.Type())
	}
	if !(f > 0) || math.IsInf(f, 0) {
		return fmt.Errorf("got %s, want a number greater than 0", v)
	}
	*p = positive(f)
	return nil
}

// ratelimit.allow(key, rate, per=1.0, burst=None) -> bool: whether the
// bucket key, which gains rate tokens every per seconds and holds at most
// burst (default rate, at least 1), had a token for this call.
func (m *sharedModule) allow(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		key   sharedKey
		rate  positive
		per   = positive(1)
		burst positive
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "rate", &rate, "per?", &per, "burst??", &burst); err != nil {
		return nil, err
	}
	if float64(per) > maxTTL.Seconds() {
		return nil, fmt.Errorf("%s: per: got %g seconds, want at most %d", b.Name(), float64(per), int64(maxTTL.Seconds()))
	}
	if burst == 0 {
		burst = max(rate, 1)
	}
	if burst < 1 {
		return nil, fmt.Errorf("%s: burst: got %g, want at least 1", b.Name(), float64(burst))
	}
	d := max(1, time.Duration(float64(per)*float64(time.Second)))
	ok, err := m.store.Allow(callContext(thread), string(key), float64(rate), d, float64(burst), CallInfoOf(thread).Time())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.Bool(ok), nil
}
