package redisstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// reporter counts and logs the failures to use Redis. Every failure goes
// to the Observer. The log gets at most one "redis store unavailable"
// line per interval, with the number of failures it did not log since the
// previous one, and one "redis store available again" line after the
// first success that follows a logged failure: at most two lines per
// interval however Redis flaps. Its methods are safe for concurrent use;
// success, on every operation's path, is one atomic load while Redis
// works.
type reporter struct {
	log      *zap.Logger // with the server's address
	obs      Observer
	policy   Policy
	interval time.Duration
	now      func() time.Time // tests replace it

	down atomic.Bool // a failure since the last success

	mu         sync.Mutex
	lastWarn   time.Time // when the last unavailable line was logged
	suppressed int       // failures not logged since then
	failures   int       // failures since the last available-again line
	warned     bool      // an unavailable line since the last available-again line
}

func newReporter(log *zap.Logger, obs Observer, policy Policy, interval time.Duration) *reporter {
	return &reporter{log: log, obs: obs, policy: policy, interval: interval, now: time.Now}
}

// failure reports that op failed with err because Redis could not be
// used.
func (r *reporter) failure(op string, err error) {
	if r.obs != nil {
		r.obs.ObserveStoreError(op)
	}
	r.down.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures++
	now := r.now()
	if !r.lastWarn.IsZero() && now.Sub(r.lastWarn) < r.interval {
		r.suppressed++
		return
	}
	r.log.Warn("redis store unavailable", zap.String("op", op), zap.String("policy", string(r.policy)),
		zap.Int("suppressed", r.suppressed), zap.Error(err))
	r.lastWarn, r.suppressed, r.warned = now, 0, true
}

// success reports that an operation reached Redis.
func (r *reporter) success() {
	if !r.down.Load() || !r.down.CompareAndSwap(true, false) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.warned {
		return
	}
	r.log.Info("redis store available again", zap.Int("failures", r.failures))
	r.failures, r.warned = 0, false
}

// SetClientLog sends the log lines of the Redis client library to log, at
// debug level: the store's own rate-limited lines say what matters, and
// the library otherwise writes a plain-text line to stderr for every
// failed connection attempt. The library's logger is process-wide, so
// main calls this once.
func SetClientLog(log *zap.Logger) { redis.SetLogger(clientLog{log}) }

// clientLog adapts a zap.Logger to the Redis client's logger interface.
type clientLog struct{ log *zap.Logger }

func (l clientLog) Printf(_ context.Context, format string, v ...any) {
	if ce := l.log.Check(zap.DebugLevel, "redis client"); ce != nil {
		ce.Write(zap.String("detail", fmt.Sprintf(format, v...)))
	}
}
