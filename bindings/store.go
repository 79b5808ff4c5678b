package bindings

import (
	"context"
	"fmt"
	"math"
	"time"

	"go.starlark.net/starlark"
)

// Store is the process-wide key-value store behind the shared and
// ratelimit modules. MemoryStore is the in-process implementation; a
// store shared by several runners (Redis) implements the same interface.
//
// Values are shared values (see SharedValue): the modules validate, copy
// and freeze them before they reach a store, and a store returns frozen
// shared values. A nil Value means "absent". now is the calling script's
// clock (CallInfo.Time); a store with a clock of its own may ignore it.
// A ttl of 0 means no expiry. Rate-limit buckets live in a namespace of
// their own: Allow never sees the keys of Get and Set.
//
// Implementations must be safe for concurrent use, and each method must be
// atomic: concurrent Incr calls on one key never lose an update, and
// Allow admits exactly what one token bucket would.
type Store interface {
	// Get returns the value of key, or nil when it is absent or expired.
	Get(ctx context.Context, key string, now time.Time) (starlark.Value, error)
	// Set stores v under key, replacing the value and expiry it had.
	// A nil v deletes key.
	Set(ctx context.Context, key string, v starlark.Value, ttl time.Duration, now time.Time) error
	// Incr adds delta to the int under key and returns the sum. An absent
	// key counts as 0 and is created with the ttl; an existing key keeps
	// its expiry. A value that is not an int, or a sum outside int64, is
	// an error.
	Incr(ctx context.Context, key string, delta int64, ttl time.Duration, now time.Time) (int64, error)
	// Delete removes key and reports whether it was present.
	Delete(ctx context.Context, key string, now time.Time) (bool, error)
	// CompareAndSet replaces the value of key with value, with the ttl,
	// if its current value equals old (nil: if it is absent), and reports
	// whether it did. A nil value deletes the key.
	CompareAndSet(ctx context.Context, key string, old, value starlark.Value, ttl time.Duration, now time.Time) (bool, error)
	// Allow takes one token from the token bucket named key, which gains
	// rate tokens per per and holds at most burst, and reports whether
	// there was one. A bucket seen for the first time is full.
	Allow(ctx context.Context, key string, rate float64, per time.Duration, burst float64, now time.Time) (bool, error)
}

// Bounds of what scripts put in a Store.
const (
	// MaxSharedKeyBytes is the longest key, in bytes.
	MaxSharedKeyBytes = 512
	// MaxSharedValueBytes bounds a value's size as SharedValue measures
	// it (about its JSON length).
	MaxSharedValueBytes = 64 << 10
	// maxSharedDepth bounds the nesting of lists and dicts (and catches
	// a list that contains itself).
	maxSharedDepth = 32
	// maxTTL is the longest ttl a script may give (about 10 years).
	maxTTL = 10 * 365 * 24 * time.Hour
)

// SharedValue checks that v is a value a Store may hold — None, bool, an
// int that fits in int64, float, str, bytes, or a list or dict (with str
// keys) of those, nested at most 32 deep — and returns a frozen deep copy
// of it and its size: the bytes of its strings and about 8 per other
// element, roughly its JSON length. A value larger than
// MaxSharedValueBytes is an error. The copy shares no mutable state with
// v, so the script may change v afterwards.
func SharedValue(v starlark.Value) (starlark.Value, int, error) {
	c := sharedCopier{}
	out, err := c.copy(v, 0)
	if err != nil {
		return nil, 0, err
	}
	out.Freeze()
	return out, c.size, nil
}

// sharedSize checks v as SharedValue does and returns its size, without
// copying it.
func sharedSize(v starlark.Value) (int, error) {
	c := sharedCopier{measure: true}
	_, err := c.copy(v, 0)
	return c.size, err
}

// sharedCopier walks a value, checking it, adding up its size and, unless
// measure is set, building a deep copy.
type sharedCopier struct {
	size    int
	measure bool
}

func (c *sharedCopier) add(n int) error {
	c.size += n
	if c.size > MaxSharedValueBytes {
		return fmt.Errorf("value is larger than %d bytes", MaxSharedValueBytes)
	}
	return nil
}

func (c *sharedCopier) copy(v starlark.Value, depth int) (starlark.Value, error) {
	if depth > maxSharedDepth {
		return nil, fmt.Errorf("value is nested more than %d deep", maxSharedDepth)
	}
	switch x := v.(type) {
	case starlark.NoneType, starlark.Bool:
		return v, c.add(4)
	case starlark.Int:
		if _, ok := x.Int64(); !ok {
			return nil, fmt.Errorf("int %s does not fit in 64 bits", x)
		}
		return v, c.add(8)
	case starlark.Float:
		return v, c.add(8)
	case starlark.String:
		return v, c.add(len(x) + 2)
	case starlark.Bytes:
		return v, c.add(len(x) + 2)
	case *starlark.List:
		return c.copyList(x, depth)
	case *starlark.Dict:
		return c.copyDict(x, depth)
	}
	return nil, fmt.Errorf("got %s, want None, bool, int, float, str, bytes, or a list or dict of those", v.Type())
}

func (c *sharedCopier) copyList(l *starlark.List, depth int) (starlark.Value, error) {
	if err := c.add(2 + l.Len()); err != nil {
		return nil, err
	}
	var elems []starlark.Value
	if !c.measure {
		elems = make([]starlark.Value, l.Len())
	}
	for i := range l.Len() {
		e, err := c.copy(l.Index(i), depth+1)
		if err != nil {
			return nil, err
		}
		if !c.measure {
			elems[i] = e
		}
	}
	if c.measure {
		return l, nil
	}
	return starlark.NewList(elems), nil
}

func (c *sharedCopier) copyDict(d *starlark.Dict, depth int) (starlark.Value, error) {
	if err := c.add(2 + 2*d.Len()); err != nil {
		return nil, err
	}
	var out *starlark.Dict
	if !c.measure {
		out = starlark.NewDict(d.Len())
	}
	for k, v := range starlark.Entries(d) {
		ks, ok := k.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("got dict key of type %s, want str", k.Type())
		}
		if err := c.add(len(ks) + 2); err != nil {
			return nil, err
		}
		cv, err := c.copy(v, depth+1)
		if err != nil {
			return nil, err
		}
		if out != nil {
			if err := out.SetKey(ks, cv); err != nil {
				return nil, err
			}
		}
	}
	if c.measure {
		return d, nil
	}
	return out, nil
}

// tokenBucket is the state of one token bucket. The zero value is unused:
// a new bucket is full (newTokenBucket).
type tokenBucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last update
}

// tokenEpsilon absorbs float rounding, so that a bucket refilled for
// exactly one token's time admits a call.
const tokenEpsilon = 1e-9

func newTokenBucket(burst float64, now int64) tokenBucket {
	return tokenBucket{tokens: burst, last: now}
}

// take refills the bucket for the time since its last update (a clock
// that went back refills nothing) and takes one token if there is one.
func (b *tokenBucket) take(now int64, rate float64, per time.Duration, burst float64) bool {
	if elapsed := now - b.last; elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+float64(elapsed)*rate/float64(per))
		b.last = now
	}
	if b.tokens > burst { // burst lowered since the last call
		b.tokens = burst
	}
	if b.tokens < 1-tokenEpsilon {
		return false
	}
	b.tokens = math.Max(0, b.tokens-1)
	return true
}

// fullAt returns when the bucket will be full again: after that, a new
// full bucket is the same as this one, so a store may forget it.
func (b *tokenBucket) fullAt(rate float64, per time.Duration, burst float64) int64 {
	missing := burst - b.tokens
	if missing <= 0 {
		return b.last
	}
	d := math.Ceil(missing * float64(per) / rate)
	if d > float64(maxTTL) {
		d = float64(maxTTL)
	}
	return b.last + int64(d)
}
