package bindings

import (
	"fmt"
	"sync"

	"go.starlark.net/starlark"
)

// Helpers shared by the predeclared modules (module_*.go).

// maxDataBytes bounds the str or bytes a hashing, encoding or URL builtin
// accepts. One builtin call is one Starlark step, so a builtin bounds its
// own work; 16 MiB leaves room for the default 8 MiB body cap.
const maxDataBytes = 16 << 20

// bytesLike unpacks a str or bytes argument.
type bytesLike string

var _ starlark.Unpacker = (*bytesLike)(nil)

func (b *bytesLike) Unpack(v starlark.Value) error {
	switch x := v.(type) {
	case starlark.String:
		*b = bytesLike(x)
	case starlark.Bytes:
		*b = bytesLike(x)
	default:
		return fmt.Errorf("got %s, want str or bytes", v.Type())
	}
	return nil
}

// checkSize fails when a str or bytes argument of fn is longer than max.
func checkSize(fn string, n, max int) error {
	if n > max {
		return fmt.Errorf("%s: got %d bytes of input, want at most %d", fn, n, max)
	}
	return nil
}

// boundedCache is a concurrency-safe map from string keys to values that
// holds at most max entries: when it is full, adding an entry evicts an
// arbitrary one. Lookups take a read lock and do not allocate. All methods
// are safe for concurrent use.
type boundedCache[V any] struct {
	max int
	mu  sync.RWMutex
	m   map[string]V
}

func newBoundedCache[V any](max int) *boundedCache[V] {
	return &boundedCache[V]{max: max, m: make(map[string]V)}
}

func (c *boundedCache[V]) get(key string) (V, bool) {
	c.mu.RLock()
	v, ok := c.m[key]
	c.mu.RUnlock()
	return v, ok
}

// add stores v under key unless another goroutine stored one first, and
// returns the value the cache now holds.
func (c *boundedCache[V]) add(key string, v V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[key]; ok {
		return old
	}
	if len(c.m) >= c.max {
		for k := range c.m { // Go randomizes the order: an arbitrary victim
			delete(c.m, k)
			break
		}
	}
	c.m[key] = v
	return v
}

// len reports the number of entries.
func (c *boundedCache[V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// hashString is the hash of a string, for values hashed by their text.
func hashString(s string) uint32 {
	h, _ := starlark.String(s).Hash()
	return h
}
