// Package redisstore is a bindings.Store in Redis: the shared and
// ratelimit modules' state, shared by every runner that uses the same
// Redis (one runner per APISIX node).
//
// Every method is one round trip and atomic on the server: Get, Set and
// Delete are GET, SET (with PX for a ttl) and DEL; Incr, CompareAndSet
// and Allow are Lua scripts (scripts.go). Expiry and the token buckets'
// clock are the server's, so the now argument of the Store methods is
// ignored and every runner agrees on time.
//
// Keys are KeyPrefix + "shared:" + key for values and KeyPrefix +
// "ratelimit:" + key for rate-limit buckets. Values are stored in the
// encoding of codec.go: an int as decimal text (so INCRBY works), any
// other value as a tagged binary encoding that decodes to an equal value
// of the same type (str with invalid UTF-8, bytes, and dict order
// included).
//
// Differences from bindings.MemoryStore:
//   - CompareAndSet compares encodings byte for byte, not with Starlark's
//     ==: 1 and 1.0, 0.0 and -0.0, and equal dicts with keys in a
//     different order do not match. A value read with Get and passed
//     back as old always matches its stored self.
//   - The store is not bounded by shared_max_keys and shared_max_bytes;
//     Redis's own maxmemory and eviction policy apply.
//
// When Redis cannot be used (unreachable, timed out, or answering with an
// error such as LOADING or NOAUTH), Policy decides what a method returns
// (see Policy), and the failure is counted (Observer) and logged at most
// once per LogEvery. Failed operations are never retried, so an Incr or
// Allow is applied at most once. The client reconnects by itself; a
// Store needs no restart when Redis comes back.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.starlark.net/starlark"
	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// Policy is what a Store does when Redis cannot be used.
type Policy string

const (
	// PolicyClosed (the default) fails the operation: the script's call
	// fails, and the runner answers with its error status.
	PolicyClosed Policy = "closed"
	// PolicyOpen answers as if Redis held nothing and accepted every
	// write: ratelimit.allow admits, get returns absent (the default),
	// set succeeds without storing, delete returns False, incr returns
	// delta (as for a new key), and cas returns False (nothing
	// replaced). Nothing fails, and requests go through unlimited.
	PolicyOpen Policy = "open"
)

// Observer is told of every operation that failed because Redis could not
// be used. op is the script-facing name: "get", "set", "incr", "delete",
// "cas", "allow" or "ping". Its method must be safe for concurrent use.
type Observer interface {
	ObserveStoreError(op string)
}

// Config configures a Store. The zero value of each field selects the
// default given in its comment.
type Config struct {
	// Addr is the server's host:port. Default "127.0.0.1:6379".
	Addr string
	// Password authenticates the connections; empty: no AUTH. The runner
	// reads it from the environment variable named by
	// redis_password_env, never from its config file.
	Password string
	// DB is the database number. Default 0.
	DB int
	// KeyPrefix starts every key the store writes. Default
	// DefaultKeyPrefix.
	KeyPrefix string
	// PoolSize is the most connections open at once. Default 10 per
	// GOMAXPROCS.
	PoolSize int
	// DialTimeout bounds one connection attempt; ReadTimeout one reply,
	// and also the wait for a free connection when all PoolSize are
	// busy; WriteTimeout one command's write. Default
	// DefaultTimeout each.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// Policy is what methods do when Redis cannot be used. Default
	// PolicyClosed.
	Policy Policy
	// Observer, when set, is told of every such failure.
	Observer Observer
	// LogEvery is the least time between two "redis store unavailable"
	// log lines; the ones in between are counted in the next. Default
	// 5 s.
	LogEvery time.Duration
}

// Defaults of Config.
const (
	DefaultAddr      = "127.0.0.1:6379"
	DefaultKeyPrefix = "scriptrunner:"
	DefaultTimeout   = 200 * time.Millisecond
	DefaultLogEvery  = 5 * time.Second
)

// Namespaces under KeyPrefix.
const (
	sharedSpace    = "shared:"
	ratelimitSpace = "ratelimit:"
)

// maxTTL is the longest expiry the store sets, as bindings does (about 10
// years).
const maxTTL = 10 * 365 * 24 * time.Hour

func (c Config) withDefaults() (Config, error) {
	switch c.Policy {
	case "":
		c.Policy = PolicyClosed
	case PolicyClosed, PolicyOpen:
	default:
		return c, fmt.Errorf("redis store: policy %q: want closed or open", c.Policy)
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	for _, d := range []*time.Duration{&c.DialTimeout, &c.ReadTimeout, &c.WriteTimeout} {
		if *d <= 0 {
			*d = DefaultTimeout
		}
	}
	if c.LogEvery <= 0 {
		c.LogEvery = DefaultLogEvery
	}
	return c, nil
}

// Store is a bindings.Store in Redis. Its methods are safe for concurrent
// use.
type Store struct {
	rdb       *redis.Client
	sharedKey string // KeyPrefix + sharedSpace
	bucketKey string // KeyPrefix + ratelimitSpace
	policy    Policy
	rep       *reporter
}

var _ bindings.Store = (*Store)(nil)

// New returns a Store for cfg. It does not connect: connections are made
// when needed (see Ping). A nil log discards logs.
func New(cfg Config, log *zap.Logger) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:            cfg.Addr,
		Password:        cfg.Password,
		DB:              cfg.DB,
		PoolSize:        cfg.PoolSize,
		DialTimeout:     cfg.DialTimeout,
		ReadTimeout:     cfg.ReadTimeout,
		WriteTimeout:    cfg.WriteTimeout,
		PoolTimeout:     cfg.ReadTimeout,
		Protocol:        2,
		DisableIdentity: true,
		// No retries: a command whose reply was lost may have been
		// applied, and retrying an Incr or Allow would count it twice.
		MaxRetries: -1,
		// One dial per attempt. After PoolSize failed dials in a row the
		// client fails at once and probes the server once a second in
		// the background, so an unreachable Redis costs no time per call.
		DialerRetries: 1,
	})
	return &Store{
		rdb:       rdb,
		sharedKey: cfg.KeyPrefix + sharedSpace,
		bucketKey: cfg.KeyPrefix + ratelimitSpace,
		policy:    cfg.Policy,
		rep:       newReporter(log.With(zap.String("redis", cfg.Addr)), cfg.Observer, cfg.Policy, cfg.LogEvery),
	}, nil
}

// Close closes the connections. Methods called afterwards fail (as
// unavailable).
func (s *Store) Close() error { return s.rdb.Close() }

// Ping checks that Redis answers. A failure is counted and logged (as
// op "ping") as the methods' failures are, and returned whatever the
// policy.
func (s *Store) Ping(ctx context.Context) error {
	err := s.rdb.Ping(ctx).Err()
	if err != nil {
		s.rep.failure("ping", err)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	s.rep.success()
	return nil
}

// Get implements bindings.Store. The value is absent under PolicyOpen
// when Redis cannot be used.
func (s *Store) Get(ctx context.Context, key string, _ time.Time) (starlark.Value, error) {
	data, err := s.rdb.Get(ctx, s.sharedKey+key).Bytes()
	if errors.Is(err, redis.Nil) {
		s.rep.success()
		return nil, nil
	}
	if err != nil {
		return nil, s.fail("get", err)
	}
	s.rep.success()
	v, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", key, err)
	}
	return v, nil
}

// Set implements bindings.Store. Under PolicyOpen a write Redis did not
// take is dropped without an error.
func (s *Store) Set(ctx context.Context, key string, v starlark.Value, ttl time.Duration, _ time.Time) error {
	if v == nil {
		_, err := s.del(ctx, "set", key)
		return err
	}
	data, err := encode(v)
	if err != nil {
		return err
	}
	err = s.rdb.Set(ctx, s.sharedKey+key, data, time.Duration(ttlMillis(ttl))*time.Millisecond).Err()
	if err != nil {
		return s.fail("set", err)
	}
	s.rep.success()
	return nil
}

// Incr implements bindings.Store. Under PolicyOpen it returns delta when
// Redis cannot be used, as for a new key.
func (s *Store) Incr(ctx context.Context, key string, delta int64, ttl time.Duration, _ time.Time) (int64, error) {
	n, err := incrScript.Run(ctx, s.rdb, []string{s.sharedKey + key}, delta, ttlMillis(ttl)).Int64()
	if err == nil {
		s.rep.success()
		return n, nil
	}
	if msg, ok := scriptError(err); ok {
		s.rep.success()
		return 0, incrError(key, delta, msg)
	}
	if err := s.fail("incr", err); err != nil {
		return 0, err
	}
	return delta, nil
}

// incrError turns an error of incrScript into the message the memory
// store gives.
func incrError(key string, delta int64, msg string) error {
	if cur, ok := strings.CutPrefix(msg, "overflow "); ok {
		return fmt.Errorf("%s + %d overflows int64", cur, delta)
	}
	if tag, ok := strings.CutPrefix(msg, "notint "); ok && tag != "" {
		return fmt.Errorf("value of %q is %s, want int", key, typeName(tag[0]))
	}
	return errors.New(msg)
}

// Delete implements bindings.Store. Under PolicyOpen it returns false when
// Redis cannot be used.
func (s *Store) Delete(ctx context.Context, key string, _ time.Time) (bool, error) {
	return s.del(ctx, "delete", key)
}

func (s *Store) del(ctx context.Context, op, key string) (bool, error) {
	n, err := s.rdb.Del(ctx, s.sharedKey+key).Result()
	if err != nil {
		return false, s.fail(op, err)
	}
	s.rep.success()
	return n > 0, nil
}

// CompareAndSet implements bindings.Store, comparing the encodings of the
// stored value and old byte for byte (see the package comment). Under
// PolicyOpen it returns false (nothing replaced) when Redis cannot be
// used.
func (s *Store) CompareAndSet(ctx context.Context, key string, old, value starlark.Value, ttl time.Duration, _ time.Time) (bool, error) {
	args := make([]any, 0, 5)
	for _, v := range []starlark.Value{old, value} {
		if v == nil {
			args = append(args, "0", "")
			continue
		}
		data, err := encode(v)
		if err != nil {
			return false, err
		}
		args = append(args, "1", data)
	}
	args = append(args, ttlMillis(ttl))
	n, err := casScript.Run(ctx, s.rdb, []string{s.sharedKey + key}, args...).Int64()
	if err == nil {
		s.rep.success()
		return n == 1, nil
	}
	if msg, ok := scriptError(err); ok {
		s.rep.success()
		return false, errors.New(msg)
	}
	return false, s.fail("cas", err)
}

// Allow implements bindings.Store on the server's clock. Under PolicyOpen
// it admits when Redis cannot be used.
func (s *Store) Allow(ctx context.Context, key string, rate float64, per time.Duration, burst float64, _ time.Time) (bool, error) {
	if !(rate > 0) || per <= 0 || !(burst >= 1) || math.IsInf(rate, 0) || math.IsInf(burst, 0) {
		return false, fmt.Errorf("token bucket: got rate %g per %v, burst %g; want rate > 0, per > 0, burst >= 1", rate, per, burst)
	}
	n, err := allowScript.Run(ctx, s.rdb, []string{s.bucketKey + key},
		formatFloat(rate), formatFloat(float64(per)/float64(time.Microsecond)), formatFloat(burst),
		maxTTL.Milliseconds()).Int64()
	if err == nil {
		s.rep.success()
		return n == 1, nil
	}
	if msg, ok := scriptError(err); ok {
		s.rep.success()
		return false, errors.New(msg)
	}
	if err := s.fail("allow", err); err != nil {
		return false, err
	}
	return true, nil
}

// fail reports err, a failure to use Redis, and returns what the
// operation returns under the policy: an error when closed, nil when
// open.
func (s *Store) fail(op string, err error) error {
	if !unavailable(err) {
		s.rep.success()
		return err
	}
	s.rep.failure(op, err)
	if s.policy == PolicyOpen {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// ErrUnavailable is wrapped by the errors of operations that failed
// because Redis could not be used.
var ErrUnavailable = errors.New("redis store unavailable")

// unavailable reports whether err means Redis could not be used, rather
// than an answer about the data: every error but a script's own and
// WRONGTYPE (a key of another type under the prefix).
func unavailable(err error) bool {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		return !strings.HasPrefix(msg, errPrefix) && !strings.HasPrefix(msg, "WRONGTYPE")
	}
	return true
}

// scriptError returns the message of an error a script raised on purpose.
func scriptError(err error) (string, bool) {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return strings.CutPrefix(rerr.Error(), errPrefix)
	}
	return "", false
}

// ttlMillis returns ttl in whole milliseconds for PX, rounded up so that
// a positive ttl stays positive; 0 means none.
func ttlMillis(ttl time.Duration) int64 {
	ttl = min(max(ttl, 0), maxTTL)
	return int64((ttl + time.Millisecond - 1) / time.Millisecond)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
