package bindings

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"go.starlark.net/starlark"
)

// MemoryStoreConfig bounds a MemoryStore. The zero value of each field
// selects the default given in its comment.
type MemoryStoreConfig struct {
	// MaxKeys is the most keys (values and rate-limit buckets together)
	// the store holds. Default 100000.
	MaxKeys int
	// MaxBytes bounds the keys and values the store holds, values
	// measured as SharedValue does. Default 64 MiB.
	MaxBytes int64
}

// Defaults of MemoryStoreConfig.
const (
	DefaultSharedMaxKeys  = 100_000
	DefaultSharedMaxBytes = 64 << 20
)

// bucketBytes is what a rate-limit bucket counts toward MaxBytes besides
// its key.
const bucketBytes = 16

// purgeBatch is how many expired keys a write removes besides the ones it
// evicts, so that expired keys go away without a background goroutine
// and no single call pays for a large batch.
const purgeBatch = 16

// MemoryStore is the in-process Store: one map for the whole process (one
// namespace shared by every script), bounded by MaxKeys and MaxBytes.
// When a write needs room, it evicts expired keys first, then the least
// recently used key (Get, Set, Incr, CompareAndSet and Allow count as
// uses). Expired keys are also removed a few at a time by every write,
// and are never returned. An evicted rate-limit bucket is full again when
// next used.
//
// Values are held as given (frozen shared values) and returned without a
// copy. All methods are safe for concurrent use; each takes one mutex for
// a short, bounded time.
type MemoryStore struct {
	maxKeys  int
	maxBytes int64

	mu    sync.Mutex
	bytes int64
	m     map[memKey]*memEntry
	lru   memEntry // sentinel: lru.next is the most recently used entry
	exp   expiryHeap
}

var _ Store = (*MemoryStore)(nil)

type memKey struct {
	name   string
	bucket bool // a rate-limit bucket, not a value
}

type memEntry struct {
	key        memKey
	val        starlark.Value // value entries
	tb         tokenBucket    // bucket entries
	size       int64
	expires    int64 // unix nanoseconds; 0: never
	heapIndex  int   // in MemoryStore.exp, or -1
	prev, next *memEntry
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryStoreConfig) *MemoryStore {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultSharedMaxKeys
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultSharedMaxBytes
	}
	s := &MemoryStore{maxKeys: cfg.MaxKeys, maxBytes: cfg.MaxBytes, m: make(map[memKey]*memEntry)}
	s.lru.next, s.lru.prev = &s.lru, &s.lru
	return s
}

// Len reports the number of keys held, expired ones not yet removed
// included.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Bytes reports the size of the keys and values held.
func (s *MemoryStore) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, key string, now time.Time) (starlark.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.lookup(memKey{name: key}, now.UnixNano()); e != nil {
		return e.val, nil
	}
	return nil, nil
}

// Set implements Store.
func (s *MemoryStore) Set(ctx context.Context, key string, v starlark.Value, ttl time.Duration, now time.Time) error {
	if v == nil {
		_, err := s.Delete(ctx, key, now)
		return err
	}
	size, err := sharedSize(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(memKey{name: key}, v, size, ttl, now.UnixNano())
}

// Incr implements Store.
func (s *MemoryStore) Incr(_ context.Context, key string, delta int64, ttl time.Duration, now time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now.UnixNano()
	e := s.lookup(memKey{name: key}, t)
	if e == nil {
		return delta, s.put(memKey{name: key}, starlark.MakeInt64(delta), 8, ttl, t)
	}
	var n int64
	if i, ok := e.val.(starlark.Int); !ok || starlark.AsInt(i, &n) != nil {
		return 0, fmt.Errorf("value of %q is %s, want int", key, e.val.Type())
	}
	if (delta > 0 && n > math.MaxInt64-delta) || (delta < 0 && n < math.MinInt64-delta) {
		return 0, fmt.Errorf("%d + %d overflows int64", n, delta)
	}
	e.val = starlark.MakeInt64(n + delta)
	return n + delta, nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(_ context.Context, key string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.lookup(memKey{name: key}, now.UnixNano())
	if e != nil {
		s.remove(e)
	}
	return e != nil, nil
}

// CompareAndSet implements Store. Values compare as Starlark's == does.
func (s *MemoryStore) CompareAndSet(_ context.Context, key string, old, value starlark.Value, ttl time.Duration, now time.Time) (bool, error) {
	size := 0
	if value != nil {
		var err error
		if size, err = sharedSize(value); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now.UnixNano()
	e := s.lookup(memKey{name: key}, t)
	switch {
	case e == nil && old != nil, e != nil && old == nil:
		return false, nil
	case e != nil:
		eq, err := starlark.EqualDepth(e.val, old, maxSharedDepth+1)
		if err != nil || !eq {
			return false, err
		}
	}
	if value == nil {
		if e != nil {
			s.remove(e)
		}
		return true, nil
	}
	return true, s.put(memKey{name: key}, value, size, ttl, t)
}

// Allow implements Store.
func (s *MemoryStore) Allow(_ context.Context, key string, rate float64, per time.Duration, burst float64, now time.Time) (bool, error) {
	if !(rate > 0) || per <= 0 || !(burst >= 1) || math.IsInf(rate, 0) || math.IsInf(burst, 0) {
		return false, fmt.Errorf("token bucket: got rate %g per %v, burst %g; want rate > 0, per > 0, burst >= 1", rate, per, burst)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := now.UnixNano()
	k := memKey{name: key, bucket: true}
	e := s.lookup(k, t)
	if e == nil {
		e = &memEntry{key: k, size: int64(len(key)) + bucketBytes, tb: newTokenBucket(burst, t), heapIndex: -1}
		if err := s.insert(e, t); err != nil {
			return false, err
		}
	}
	ok := e.tb.take(t, rate, per, burst)
	s.setExpiry(e, e.tb.fullAt(rate, per, burst))
	return ok, nil
}

// errTooBig is returned when one value cannot fit in MaxBytes at all.
var errTooBig = errors.New("value does not fit in the shared store (shared_max_bytes)")

// lookup returns the live entry of k, marking it used, or nil. An expired
// entry is removed. Callers hold mu.
func (s *MemoryStore) lookup(k memKey, now int64) *memEntry {
	e := s.m[k]
	if e == nil {
		return nil
	}
	if e.expires != 0 && e.expires <= now {
		s.remove(e)
		return nil
	}
	s.unlink(e)
	s.pushFront(e)
	return e
}

// put replaces k's entry with a value entry. Callers hold mu.
func (s *MemoryStore) put(k memKey, v starlark.Value, size int, ttl time.Duration, now int64) error {
	if old := s.m[k]; old != nil {
		s.remove(old)
	}
	e := &memEntry{key: k, val: v, size: int64(len(k.name) + size), heapIndex: -1}
	if err := s.insert(e, now); err != nil {
		return err
	}
	if ttl > 0 {
		s.setExpiry(e, now+int64(min(ttl, maxTTL)))
	}
	return nil
}

// insert adds e, a new entry, making room for it. Callers hold mu.
func (s *MemoryStore) insert(e *memEntry, now int64) error {
	if e.size > s.maxBytes {
		return errTooBig
	}
	s.purge(now, purgeBatch)
	for len(s.m) >= s.maxKeys || s.bytes+e.size > s.maxBytes {
		s.evictOne(now)
	}
	s.m[e.key] = e
	s.bytes += e.size
	s.pushFront(e)
	return nil
}

// evictOne removes the entry that expired first if it has expired, else
// the least recently used entry. Callers hold mu and know the store is
// not empty.
func (s *MemoryStore) evictOne(now int64) {
	if len(s.exp) > 0 && s.exp[0].expires <= now {
		s.remove(s.exp[0])
		return
	}
	s.remove(s.lru.prev)
}

// purge removes up to n expired entries. Callers hold mu.
func (s *MemoryStore) purge(now int64, n int) {
	for ; n > 0 && len(s.exp) > 0 && s.exp[0].expires <= now; n-- {
		s.remove(s.exp[0])
	}
}

// setExpiry sets e's expiry (0: none), keeping the heap in order.
func (s *MemoryStore) setExpiry(e *memEntry, at int64) {
	e.expires = at
	switch {
	case at == 0 && e.heapIndex >= 0:
		heap.Remove(&s.exp, e.heapIndex)
	case at != 0 && e.heapIndex >= 0:
		heap.Fix(&s.exp, e.heapIndex)
	case at != 0:
		heap.Push(&s.exp, e)
	}
}

func (s *MemoryStore) remove(e *memEntry) {
	delete(s.m, e.key)
	s.bytes -= e.size
	s.unlink(e)
	if e.heapIndex >= 0 {
		heap.Remove(&s.exp, e.heapIndex)
	}
}

func (s *MemoryStore) unlink(e *memEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (s *MemoryStore) pushFront(e *memEntry) {
	e.prev, e.next = &s.lru, s.lru.next
	s.lru.next.prev = e
	s.lru.next = e
}

// expiryHeap orders the entries that have an expiry, soonest first.
type expiryHeap []*memEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires < h[j].expires }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*memEntry)
	e.heapIndex = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.heapIndex = -1
	*h = old[:len(old)-1]
	return e
}
