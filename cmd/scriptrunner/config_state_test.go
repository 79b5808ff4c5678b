package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConfigStateKeys covers the keys of the log, shared and env modules.
func TestConfigStateKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "runner.yaml")
	yaml := "env_allow: [DEPLOY_ENV, REGION]\nshared_max_keys: 10\nshared_max_bytes: 4096\nlog_rate: 5\nlog_burst: 7\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		env       []string
		wantAllow []string
		wantKeys  int
		wantBytes int64
		wantRate  float64
		wantBurst int
	}{
		{name: "defaults", wantAllow: []string{}, wantKeys: 100000, wantBytes: 64 << 20, wantRate: 20, wantBurst: 50},
		{name: "file list", args: []string{"--config", file},
			wantAllow: []string{"DEPLOY_ENV", "REGION"}, wantKeys: 10, wantBytes: 4096, wantRate: 5, wantBurst: 7},
		{name: "env comma-separated", env: []string{"SCRIPTRUNNER_ENV_ALLOW= A ,B,,C", "SCRIPTRUNNER_LOG_RATE=-1"},
			wantAllow: []string{"A", "B", "C"}, wantKeys: 100000, wantBytes: 64 << 20, wantRate: -1, wantBurst: 50},
		{name: "flag over file", args: []string{"--config", file, "--env-allow", "X", "--shared-max-keys", "3"},
			wantAllow: []string{"X"}, wantKeys: 3, wantBytes: 4096, wantRate: 5, wantBurst: 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustConfig(t, tc.args, tc.env...)
			if !slices.Equal(c.EnvAllow, tc.wantAllow) {
				t.Errorf("got env_allow %q, want %q", c.EnvAllow, tc.wantAllow)
			}
			if c.SharedMaxKeys != tc.wantKeys || c.SharedMaxBytes != tc.wantBytes {
				t.Errorf("got shared_max_keys %d, shared_max_bytes %d, want %d, %d", c.SharedMaxKeys, c.SharedMaxBytes, tc.wantKeys, tc.wantBytes)
			}
			if c.LogRate != tc.wantRate || c.LogBurst != tc.wantBurst {
				t.Errorf("got log_rate %g, log_burst %d, want %g, %d", c.LogRate, c.LogBurst, tc.wantRate, tc.wantBurst)
			}
		})
	}
}

func TestConfigEnvAllowLookup(t *testing.T) {
	c := mustConfig(t, nil, "SCRIPTRUNNER_ENV_ALLOW=REGION", "REGION=eu", "EMPTY=")
	if v, ok := c.LookupEnv("REGION"); !ok || v != "eu" {
		t.Errorf("got %q, %v, want eu, true", v, ok)
	}
	if v, ok := c.LookupEnv("EMPTY"); !ok || v != "" {
		t.Errorf("got %q, %v, want \"\", true", v, ok)
	}
	if _, ok := c.LookupEnv("UNSET"); ok {
		t.Errorf("got UNSET set, want unset")
	}
}

func TestConfigEnvAllowBadName(t *testing.T) {
	_, err := parseConfig(t, nil, "SCRIPTRUNNER_ENV_ALLOW=A;B")
	if err == nil || !strings.Contains(err.Error(), `env_allow: "A;B"`) {
		t.Errorf("got %v, want an env_allow error naming A;B", err)
	}
}
