package bindings

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The shared module: the one state that outlives a call, a process-wide
// key-value store (Options.Store) with one namespace for every script.
// Values are None, bool, int, float, str, bytes and lists or dicts of
// those (SharedValue); they are copied and frozen on the way in and come
// back frozen, so no mutable value is ever shared between calls. Storing
// None deletes: a key is either absent or holds a value that is not None.

// sharedModule holds the store the shared and ratelimit builtins use.
type sharedModule struct{ store Store }

// newSharedModule returns the shared module over store.
func newSharedModule(store Store) *starlarkstruct.Module {
	m := &sharedModule{store: store}
	return &starlarkstruct.Module{Name: "shared", Members: starlark.StringDict{
		"get":    starlark.NewBuiltin("shared.get", m.get),
		"set":    starlark.NewBuiltin("shared.set", m.set),
		"incr":   starlark.NewBuiltin("shared.incr", m.incr),
		"delete": starlark.NewBuiltin("shared.delete", m.delete),
		"cas":    starlark.NewBuiltin("shared.cas", m.cas),
	}}
}

// callContext is the context of a store operation. A call's deadline is
// enforced by cancelling its thread; a store that makes round trips
// bounds them with timeouts of its own.
func callContext(*starlark.Thread) context.Context { return context.Background() }

// sharedKey unpacks a store key: a non-empty str of at most
// MaxSharedKeyBytes bytes.
type sharedKey string

func (k *sharedKey) Unpack(v starlark.Value) error {
	s, ok := v.(starlark.String)
	if !ok {
		return fmt.Errorf("got %s, want str", v.Type())
	}
	if len(s) == 0 || len(s) > MaxSharedKeyBytes {
		return fmt.Errorf("got a key of %d bytes, want 1 to %d", len(s), MaxSharedKeyBytes)
	}
	*k = sharedKey(s)
	return nil
}

// seconds unpacks a positive number of seconds (int or float) of at most
// maxTTL, or None (zero).
type seconds time.Duration

func (d *seconds) Unpack(v starlark.Value) error {
	if v == starlark.None {
		*d = 0
		return nil
	}
	f, ok := starlark.AsFloat(v)
	if !ok {
		return fmt.Errorf("got %s, want int or float seconds", v.Type())
	}
	if !(f > 0) || f > maxTTL.Seconds() || math.IsInf(f, 0) {
		return fmt.Errorf("got %s seconds, want more than 0 and at most %d", v, int64(maxTTL.Seconds()))
	}
	*d = seconds(max(1, time.Duration(f*float64(time.Second))))
	return nil
}

// sharedArg copies a value argument for the store; None is nil.
func sharedArg(fn, name string, v starlark.Value) (starlark.Value, error) {
	if v == starlark.None {
		return nil, nil
	}
	c, _, err := SharedValue(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", fn, name, err)
	}
	return c, nil
}

// shared.get(key, default=None) -> the frozen value, or default when absent.
func (m *sharedModule) get(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key sharedKey
	var dflt starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "default?", &dflt); err != nil {
		return nil, err
	}
	v, err := m.store.Get(callContext(thread), string(key), CallInfoOf(thread).Time())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if v == nil {
		return dflt, nil
	}
	return v, nil
}

// shared.set(key, value, ttl=None) -> None; value None deletes the key.
func (m *sharedModule) set(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		key   sharedKey
		value starlark.Value
		ttl   seconds
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "value", &value, "ttl?", &ttl); err != nil {
		return nil, err
	}
	v, err := sharedArg(b.Name(), "value", value)
	if err != nil {
		return nil, err
	}
	if err := m.store.Set(callContext(thread), string(key), v, time.Duration(ttl), CallInfoOf(thread).Time()); err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.None, nil
}

// shared.incr(key, delta=1, ttl=None) -> the new int. The ttl applies
// when incr creates the key.
func (m *sharedModule) incr(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		key   sharedKey
		delta int64 = 1
		ttl   seconds
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "delta?", &delta, "ttl?", &ttl); err != nil {
		return nil, err
	}
	n, err := m.store.Incr(callContext(thread), string(key), delta, time.Duration(ttl), CallInfoOf(thread).Time())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.MakeInt64(n), nil
}

// shared.delete(key) -> whether the key was present.
func (m *sharedModule) delete(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key sharedKey
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key); err != nil {
		return nil, err
	}
	ok, err := m.store.Delete(callContext(thread), string(key), CallInfoOf(thread).Time())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.Bool(ok), nil
}

// shared.cas(key, old, new, ttl=None) -> whether the value was replaced.
// old None: only if absent; new None: delete.
func (m *sharedModule) cas(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		key        sharedKey
		old, value starlark.Value
		ttl        seconds
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "old", &old, "new", &value, "ttl?", &ttl); err != nil {
		return nil, err
	}
	o, err := sharedArg(b.Name(), "old", old)
	if err != nil {
		return nil, err
	}
	v, err := sharedArg(b.Name(), "new", value)
	if err != nil {
		return nil, err
	}
	ok, err := m.store.CompareAndSet(callContext(thread), string(key), o, v, time.Duration(ttl), CallInfoOf(thread).Time())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.Bool(ok), nil
}
