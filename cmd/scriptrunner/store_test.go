package main

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scriptrunner/scriptrunner/internal/redisstore"
)

func TestRedisConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want redisstore.Config
		err  string
	}{
		{name: "defaults", want: redisstore.Config{Addr: "127.0.0.1:6379", KeyPrefix: "scriptrunner:",
			DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
			Policy: redisstore.PolicyClosed}},
		{name: "every key", args: []string{"--redis-addr", "redis:6380", "--redis-db", "2", "--redis-key-prefix", "edge:",
			"--redis-pool-size", "8", "--redis-timeout", "1s", "--redis-policy", "open", "--redis-password-env", "REDIS_PW"},
			env: []string{"REDIS_PW=s3cret"},
			want: redisstore.Config{Addr: "redis:6380", Password: "s3cret", DB: 2, KeyPrefix: "edge:", PoolSize: 8,
				DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, Policy: redisstore.PolicyOpen}},
		{name: "password variable unset", args: []string{"--redis-password-env", "REDIS_PW"}, err: "redis_password_env: REDIS_PW is not set"},
		{name: "password variable name", args: []string{"--redis-password-env", "A B"}, err: `"A B" is not a variable name`},
		{name: "policy", args: []string{"--redis-policy", "ajar"}, err: `redis_policy "ajar": want closed or open`},
		{name: "timeout", args: []string{"--redis-timeout", "0s"}, err: "redis_timeout 0s: want more than 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := redisConfig(mustConfig(t, tc.args, tc.env...))
			switch {
			case tc.err != "":
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got %v, want an error with %q", err, tc.err)
				}
			case err != nil:
				t.Fatal(err)
			case got != tc.want:
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewStoreBackend(t *testing.T) {
	if s, _, err := newStore(mustConfig(t, nil), nil, zap.NewNop()); s != nil || err != nil {
		t.Errorf("memory: got (%v, %v), want (nil, nil): the engine's own MemoryStore", s, err)
	}
	_, _, err := newStore(mustConfig(t, []string{"--shared-backend", "etcd"}), nil, zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), `shared_backend "etcd": want memory or redis`) {
		t.Errorf("got %v, want a shared_backend error", err)
	}
}

// TestNewStoreUnreachable: a Redis that does not answer at start is a
// warning, not an error.
func TestNewStoreUnreachable(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := mustConfig(t, []string{"--shared-backend", "redis", "--redis-addr", "127.0.0.1:1", "--redis-policy", "open"})
	s, closeStore, err := newStore(cfg, nil, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if _, ok := s.(*redisstore.Store); !ok {
		t.Fatalf("got %T, want *redisstore.Store", s)
	}
	warns := logs.FilterMessage("redis store unavailable").All()
	if len(warns) != 1 || warns[0].Level != zapcore.WarnLevel || warns[0].ContextMap()["op"] != "ping" {
		t.Errorf("got logs %v, want one warning for the ping", logs.All())
	}
}
