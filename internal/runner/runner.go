// Package runner connects the protocol server to the script engine: it
// implements protocol.Handler, owns the conf-token table, adapts decoded
// protocol messages to the bindings interfaces and translates decisions
// into replies.
package runner

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/protocol"
)

// Config configures a Runner.
type Config struct {
	// ConfTTL is how long a prepared conf stays cached at least after
	// its last use. Default 72 min: 1.2 × APISIX's 3600 s token lifetime,
	// so a token APISIX still holds is never forgotten first.
	ConfTTL time.Duration
	// SweepInterval is how often expired confs are dropped; a conf is
	// dropped between ConfTTL and ConfTTL + SweepInterval after its last
	// use. Default a quarter of ConfTTL, at most 1 min.
	SweepInterval time.Duration
	// Now returns the current time; nil means time.Now. Tests mock it.
	Now func() time.Time
	// Observer, when set, is told about calls, ExtraInfo questions, token
	// misses and reloads (the metrics listener).
	Observer Observer
	// TestScript, when set, runs a script's *_test.star against the new
	// version during a reload; an error keeps the new version out.
	TestScript func(name string) error
}

// Observer receives the runner's events. Implementations must be safe
// for concurrent use. With none set, the hot path pays a nil check.
type Observer interface {
	ObserveCall(phase string, d time.Duration, steps uint64)
	ObserveExtraInfo(kind string)
	ObserveTokenMiss()
	ObserveReload(result string)
	ObserveScriptVersion(script, sha256 string)
}

// Runner is the protocol.Handler of scriptrunner. Its methods are safe for
// concurrent use.
type Runner struct {
	eng *engine.Engine
	log *zap.Logger
	cfg Config

	confs     sync.Map // uint32 -> *confEntry; lock-free reads on the hot path
	confCount atomic.Int64
	next      atomic.Uint32

	calls sync.Pool // *callCtx

	reloadMu sync.RWMutex      // reloads exclude PrepareConf and each other
	rejected map[string]string // script name -> digest of the last rejected version
	stop     chan struct{}
	once     sync.Once
}

// confEntry is one prepared conf list. Hot reload replaces its chain
// atomically; a call in flight keeps the chain it loaded.
//
// A lookup only sets used, and only when it is not set yet, so the hot
// path neither reads the clock nor writes a cache line that every
// connection shares; the sweeper turns used into a time.
//
// A connection keeps the entry it looked up last (protocol.Call's
// ConnValue) and uses it again for the same token until the sweeper
// marks it dropped, so a connection that APISIX keeps sending the same
// route's calls on does no map lookup.
type confEntry struct {
	chain   atomic.Pointer[engine.Chain]
	key     string
	token   uint32
	used    atomic.Bool  // looked up since the last sweep
	seen    atomic.Int64 // unix ns: preparation, or the last sweep that found used set
	dropped atomic.Bool  // removed from Runner.confs
}

// New returns a Runner serving confs with eng. Close stops its sweeper.
func New(eng *engine.Engine, cfg Config, log *zap.Logger) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.ConfTTL <= 0 {
		cfg.ConfTTL = 72 * time.Minute
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = min(time.Minute, cfg.ConfTTL/4)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Runner{eng: eng, log: log, cfg: cfg, stop: make(chan struct{}), rejected: map[string]string{}}
	r.next.Store(randomStart())
	r.calls.New = func() any { return newCallCtx() }
	go r.sweepLoop()
	return r
}

// randomStart picks the first token at random, so that a restarted runner
// does not hand out tokens APISIX still holds for other confs.
func randomStart() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// Close stops the background sweeper.
func (r *Runner) Close() { r.once.Do(func() { close(r.stop) }) }

func (r *Runner) sweepLoop() {
	t := time.NewTicker(r.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.Sweep()
		}
	}
}

// Sweep drops every conf that has not been used for longer than ConfTTL
// as of the previous sweep, and returns how many it dropped. A conf used
// since the previous sweep is stamped with the current time instead.
func (r *Runner) Sweep() int {
	now := r.cfg.Now().UnixNano()
	cutoff := now - int64(r.cfg.ConfTTL)
	n := 0
	r.confs.Range(func(k, v any) bool {
		e := v.(*confEntry)
		switch {
		case e.used.Swap(false):
			e.seen.Store(now)
		case e.seen.Load() < cutoff:
			if r.confs.CompareAndDelete(k, v) {
				e.dropped.Store(true)
				r.confCount.Add(-1)
				n++
			}
		}
		return true
	})
	return n
}

// Confs returns the number of cached confs.
func (r *Runner) Confs() int { return int(r.confCount.Load()) }

// newToken returns a token that is not 0 and not in use.
func (r *Runner) newToken() uint32 {
	for {
		t := r.next.Add(1)
		if t == 0 {
			continue
		}
		if _, used := r.confs.Load(t); !used {
			return t
		}
	}
}

func (r *Runner) tokenMiss() {
	if r.cfg.Observer != nil {
		r.cfg.Observer.ObserveTokenMiss()
	}
}

// lookup returns the chain for token and marks the conf used. It tries
// the entry call's connection looked up last before the map.
func (r *Runner) lookup(token uint32, call *protocol.Call) (engine.Chain, bool) {
	e, _ := call.ConnValue().(*confEntry)
	if e == nil || e.token != token || e.dropped.Load() {
		v, ok := r.confs.Load(token)
		if !ok {
			r.tokenMiss()
			return nil, false
		}
		e = v.(*confEntry)
		call.SetConnValue(e)
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return *e.chain.Load(), true
}

// PrepareConf validates every entry of the conf list and caches the chain
// under a new token. Any invalid entry rejects the whole list with
// BAD_REQUEST and a log line naming it: never skipped silently.
func (r *Runner) PrepareConf(req *protocol.PrepareConfRequest) (uint32, error) {
	// A reload must not swap a script between preparing this chain and
	// storing it, or the new entry would keep the old version.
	r.reloadMu.RLock()
	defer r.reloadMu.RUnlock()
	chain := make(engine.Chain, len(req.Conf))
	for i, ent := range req.Conf {
		name := string(ent.Name)
		c, err := r.eng.NewConf(name, ent.Value)
		if err != nil {
			cerr := &engine.ConfError{Index: i, Name: name, Err: err}
			r.log.Error("conf rejected",
				zap.String("key", string(req.Key)), zap.Int("index", i), zap.String("name", name),
				zap.String("reason", err.Error()))
			return 0, protocol.BadRequest(cerr)
		}
		chain[i] = c
		if r.cfg.Observer != nil {
			r.cfg.Observer.ObserveScriptVersion(c.Script.Name, c.Script.SHA256)
		}
	}
	e := &confEntry{key: string(req.Key)}
	e.chain.Store(&chain)
	e.seen.Store(r.cfg.Now().UnixNano())
	token := r.newToken()
	e.token = token
	r.confs.Store(token, e)
	r.confCount.Add(1)
	if ce := r.log.Check(zap.DebugLevel, "conf prepared"); ce != nil {
		ce.Write(zap.Uint32("token", token), zap.String("key", string(req.Key)), zap.Int("scripts", len(chain)))
	}
	return token, nil
}

// ScriptSHA256 returns the digest of the installed version of a script,
// or "".
func (r *Runner) ScriptSHA256(name string) string {
	if s := r.eng.Installed(name); s != nil {
		return s.SHA256
	}
	return ""
}
