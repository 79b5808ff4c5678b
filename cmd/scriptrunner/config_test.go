package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func environ(vars ...string) func() []string { return func() []string { return vars } }

// parseConfig parses args as the run command's flags and loads the
// configuration with env as the environment.
func parseConfig(t *testing.T, args []string, env ...string) (config, error) {
	t.Helper()
	fs, configFile := newRunFlags(io.Discard)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(fs, *configFile, environ(env...))
}

// mustConfig is parseConfig for a configuration that must load.
func mustConfig(t *testing.T, args []string, env ...string) config {
	t.Helper()
	c, err := parseConfig(t, args, env...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "runner.yaml")
	if err := os.WriteFile(file, []byte("max_steps: 1000\ntimeout: 2s\nscripts: /from/file\nlog_level: warn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(t *testing.T, c config)
	}{
		{"defaults", nil, nil, func(t *testing.T, c config) {
			if c.Scripts != "./scripts" || c.MaxSteps != 200000 || c.Timeout != 500*time.Millisecond ||
				c.MaxBodyBytes != 8<<20 || c.ErrorStatus != 500 || c.SocketMode != "0766" || !c.ExitWithParent {
				t.Errorf("got %+v", c)
			}
		}},
		{"file over defaults", []string{"--config", file}, nil, func(t *testing.T, c config) {
			if c.MaxSteps != 1000 || c.Timeout != 2*time.Second || c.Scripts != "/from/file" || c.LogLevel != "warn" {
				t.Errorf("got %+v", c)
			}
		}},
		{"env over file", []string{"--config", file}, []string{"SCRIPTRUNNER_MAX_STEPS=2000", "SCRIPTRUNNER_EXIT_WITH_PARENT=false"}, func(t *testing.T, c config) {
			if c.MaxSteps != 2000 || c.Timeout != 2*time.Second || c.ExitWithParent {
				t.Errorf("got %+v", c)
			}
		}},
		{"flags over env", []string{"--config", file, "--max-steps", "3000", "--scripts", "/flag"}, []string{"SCRIPTRUNNER_MAX_STEPS=2000", "SCRIPTRUNNER_SCRIPTS=/env"}, func(t *testing.T, c config) {
			if c.MaxSteps != 3000 || c.Scripts != "/flag" || c.LogLevel != "warn" {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, mustConfig(t, tc.args, tc.env...))
		})
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("max_stepz: 1\n"), 0o644)
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown file key", []string{"--config", bad}, nil, "unknown key(s) max_stepz"},
		{"unknown env key", nil, []string{"SCRIPTRUNNER_NOPE=1"}, "unknown key(s) nope"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "none.yaml"},
		{"bad duration", []string{"--timeout", "soon"}, nil, "timeout"},
		{"bad int", nil, []string{"SCRIPTRUNNER_MAX_STEPS=many"}, "max_steps"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(t, tc.args, tc.env...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestAPISIXEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		path    string
		expire  time.Duration
		wantErr string
	}{
		{"unset", nil, "", 0, "APISIX_LISTEN_ADDRESS is not set"},
		{"no unix prefix", []string{"APISIX_LISTEN_ADDRESS=/tmp/x.sock"}, "", 0, "want unix:/path"},
		{"tcp", []string{"APISIX_LISTEN_ADDRESS=tcp:127.0.0.1:1"}, "", 0, "want unix:/path"},
		{"empty path", []string{"APISIX_LISTEN_ADDRESS=unix:"}, "", 0, "want unix:/path"},
		{"default expire", []string{"APISIX_LISTEN_ADDRESS=unix:/tmp/x.sock"}, "/tmp/x.sock", time.Hour, ""},
		{"expire", []string{"APISIX_LISTEN_ADDRESS=unix:/tmp/x.sock", "APISIX_CONF_EXPIRE_TIME=60"}, "/tmp/x.sock", time.Minute, ""},
		{"bad expire", []string{"APISIX_LISTEN_ADDRESS=unix:/tmp/x.sock", "APISIX_CONF_EXPIRE_TIME=-1"}, "", 0, "APISIX_CONF_EXPIRE_TIME"},
		{"text expire", []string{"APISIX_LISTEN_ADDRESS=unix:/tmp/x.sock", "APISIX_CONF_EXPIRE_TIME=soon"}, "", 0, "APISIX_CONF_EXPIRE_TIME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			err := apisixEnv(environ(tc.env...), &c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || c.ListenPath != tc.path || c.ConfExpire != tc.expire {
				t.Errorf("got %q %v %v, want %q %v", c.ListenPath, c.ConfExpire, err, tc.path, tc.expire)
			}
		})
	}
}

// TestEveryKeyDocumented keeps docs/configuration.md complete: each key,
// its flag and its environment variable must appear there.
func TestEveryKeyDocumented(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, o := range options {
		for _, want := range []string{"`" + o.key + "`", "`--" + flagName(o.key) + "`", "`" + envPrefix + strings.ToUpper(o.key) + "`"} {
			if !strings.Contains(doc, want) {
				t.Errorf("docs/configuration.md does not mention %s", want)
			}
		}
	}
}
