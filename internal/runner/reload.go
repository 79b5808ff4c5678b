package runner

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/engine"
)

// ErrReloadRejected is wrapped by Reload errors that kept the last good
// version of a script.
var ErrReloadRejected = errors.New("reload rejected")

// Reload brings the named script's file into service if it is valid:
// it compiles, its tests pass (Config.TestScript), and every live conf
// that uses it validates and initializes with the new version. Only then
// are the new version and the re-initialized confs swapped in; calls in
// flight finish on the old ones and tokens stay valid. Otherwise nothing
// changes, the last good version keeps serving, and the error says why.
//
// A script nobody uses yet is left to its first PrepareConf. A deleted
// script is forgotten for new confs; live confs keep their version until
// they expire.
func (r *Runner) Reload(name string) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	cur := r.eng.Installed(name)
	if cur == nil {
		return nil
	}
	src, digest, err := r.eng.Source(name)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		r.eng.Uninstall(name)
		delete(r.rejected, name)
		r.observeReload("deleted", name, "")
		r.log.Warn("script deleted; live confs keep their version until they expire",
			zap.String("script", name), zap.String("version", cur.Version))
		return nil
	case err != nil:
		return r.reject(name, "", cur, err)
	case digest == cur.SHA256, digest == r.rejected[name]:
		return nil // unchanged, or this content was already rejected and logged
	}
	s, err := r.eng.Compile(name, src)
	if err != nil {
		return r.reject(name, digest, cur, err)
	}
	if r.cfg.TestScript != nil {
		if err := r.cfg.TestScript(name); err != nil {
			return r.reject(name, digest, cur, fmt.Errorf("tests: %w", err))
		}
	}
	swaps, err := r.reprepare(s)
	if err != nil {
		return r.reject(name, digest, cur, err)
	}
	r.eng.Install(s)
	for _, sw := range swaps {
		sw.entry.chain.Store(&sw.chain)
	}
	delete(r.rejected, name)
	r.observeReload("ok", name, s.SHA256)
	r.log.Info("script reloaded", zap.String("script", name),
		zap.String("from", cur.Version), zap.String("to", s.Version), zap.Int("confs", len(swaps)))
	return nil
}

type swap struct {
	entry *confEntry
	chain engine.Chain
}

// reprepare builds, for every live conf that uses s's script, a chain in
// which those entries are prepared again with s.
func (r *Runner) reprepare(s *engine.Script) ([]swap, error) {
	var swaps []swap
	var err error
	r.confs.Range(func(k, v any) bool {
		e := v.(*confEntry)
		old := *e.chain.Load()
		var chain engine.Chain
		for i, c := range old {
			if c.Name != s.Name {
				continue
			}
			if chain == nil {
				chain = append(engine.Chain(nil), old...)
			}
			nc, perr := r.eng.Prepare(s, c.Raw)
			if perr != nil {
				err = fmt.Errorf("live conf %q (token %d) entry %d: %w", e.key, k.(uint32), i, perr)
				return false
			}
			chain[i] = nc
		}
		if chain != nil {
			swaps = append(swaps, swap{entry: e, chain: chain})
		}
		return true
	})
	return swaps, err
}

func (r *Runner) reject(name, digest string, cur *engine.Script, err error) error {
	if digest != "" {
		r.rejected[name] = digest
	}
	r.observeReload("rejected", "", "")
	r.log.Error("reload rejected; the last good version keeps serving",
		zap.String("script", name), zap.String("version", cur.Version), zap.Error(err))
	return fmt.Errorf("%w: %s: %w", ErrReloadRejected, name, err)
}

// ReloadAll reloads every installed script (SIGHUP, periodic rescan).
func (r *Runner) ReloadAll() {
	for _, name := range r.eng.InstalledNames() {
		r.Reload(name)
	}
}

// observeReload reports a reload result and, when script is set, its
// installed version ("" when deleted).
func (r *Runner) observeReload(result, script, sha string) {
	if r.cfg.Observer == nil {
		return
	}
	r.cfg.Observer.ObserveReload(result)
	if script != "" {
		r.cfg.Observer.ObserveScriptVersion(script, sha)
	}
}
