package runner

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// debounce collects the events of one save (editors write a temporary
// file, rename it, touch attributes) into one reload.
const debounce = 50 * time.Millisecond

// Watch reloads scripts of dir when their files change, until ctx ends.
// File events (fsnotify) make a change live within about 50 ms; a rescan
// every interval catches what events miss (network file systems,
// Kubernetes ConfigMap symlink swaps) and serves alone where events are
// unavailable. A change to a *_test.star file reloads its script, so its
// tests run again; a change under lib/ rescans every script.
func (r *Runner) Watch(ctx context.Context, dir string, interval time.Duration) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		defer w.Close()
		if err = w.Add(dir); err == nil {
			w.Add(filepath.Join(dir, "lib")) // optional
			events, errs = w.Events, w.Errors
		}
	}
	if err != nil {
		r.log.Warn("file events unavailable; rescanning scripts periodically",
			zap.String("dir", dir), zap.Duration("interval", interval), zap.Error(err))
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	pending := map[string]bool{}
	all := false
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Name == filepath.Join(dir, "lib") && ev.Has(fsnotify.Create) {
				w.Add(ev.Name) // lib/ made after the watch started
			}
			name, isLib := scriptOf(dir, ev.Name)
			switch {
			case isLib:
				all = true
			case name != "":
				pending[name] = true
			default:
				continue
			}
			settle.Reset(debounce)
		case err, ok := <-errs:
			if ok {
				r.log.Warn("file watcher", zap.Error(err))
			} else {
				errs = nil
			}
		case <-settle.C:
			if all {
				r.ReloadAll()
			} else {
				for name := range pending {
					r.Reload(name)
				}
			}
			clear(pending)
			all = false
		case <-tick.C:
			r.ReloadAll()
		}
	}
}

// scriptOf maps a changed path to the script it affects: "x.star" and
// "x_test.star" affect x; anything under lib/ affects every script.
func scriptOf(dir, path string) (name string, lib bool) {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		return "", false
	}
	if rel == "lib" || strings.HasPrefix(rel, "lib"+string(filepath.Separator)) {
		return "", true
	}
	base, ok := strings.CutSuffix(rel, ".star")
	if !ok || strings.ContainsRune(base, filepath.Separator) {
		return "", false
	}
	return strings.TrimSuffix(base, "_test"), false
}
