package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/authoring"
	"github.com/scriptrunner/scriptrunner/internal/metrics"
)

// serveMetrics starts the metrics and health listener and returns its
// stop function.
func serveMetrics(addr string, m *metrics.Metrics, ready func() bool, log *zap.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics_addr %s: %w", addr, err)
	}
	hs := &http.Server{Handler: m.ServeMux(ready), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", zap.Error(err))
		}
	}()
	log.Info("metrics listening", zap.String("addr", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}

// reloadTests returns the hot-reload gate: a changed script's
// <name>_test.star, when there is one, must pass before the new version
// serves. The tests see the runner's env allowlist.
func reloadTests(dir string, env []string, lookup func(string) (string, bool)) func(name string) error {
	return func(name string) error {
		path := filepath.Join(dir, name+authoring.TestSuffix)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		var out bytes.Buffer
		sum := authoring.RunTests([]string{path}, authoring.TestOptions{Out: &out,
			Config: engine.Config{Dir: dir, EnvAllow: env, LookupEnv: lookup}})
		if sum.Failed > 0 {
			return fmt.Errorf("%s: %s", filepath.Base(path), strings.TrimSpace(out.String()))
		}
		return nil
	}
}
