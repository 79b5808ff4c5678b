package redisstore_test

import (
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/scriptrunner/scriptrunner/internal/redisstore"
)

// The store's operations against a local redis-server: one round trip
// each, so these measure the client and the server more than this
// package.
func BenchmarkStore(b *testing.B) {
	srv := startServer(b)
	s := newStore(b, srv, redisstore.Config{})
	v := value(b, `{"user": "alice", "roles": ["admin", "ops"], "n": 3}`)
	if err := s.Set(ctx, "v", v, 0, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.Run("get/dict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, "v", time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("set/dict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Set(ctx, "w", v, time.Minute, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("incr", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Incr(ctx, "n", 1, time.Minute, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cas/int", func(b *testing.B) {
		b.ReportAllocs()
		one := starlark.MakeInt(1)
		for b.Loop() {
			if _, err := s.CompareAndSet(ctx, "c", nil, one, time.Minute, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("allow", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Allow(ctx, "api", 1e6, time.Second, 1e6, time.Time{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("allow/parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Allow(ctx, "api", 1e6, time.Second, 1e6, time.Time{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
