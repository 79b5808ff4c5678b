package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/scriptrunner/scriptrunner/bindings"
	"github.com/scriptrunner/scriptrunner/internal/metrics"
	"github.com/scriptrunner/scriptrunner/internal/redisstore"
)

var _ redisstore.Observer = (*metrics.Metrics)(nil)

// newStore returns the store of shared_backend and its close function:
// nil for memory (the engine builds its own, bounded by shared_max_keys
// and shared_max_bytes), or a Redis store. m, when not nil, counts the
// Redis store's failures. A Redis that does not answer at start is
// logged (by Ping) and is no error: the policy applies until it answers.
func newStore(cfg config, m *metrics.Metrics, log *zap.Logger) (bindings.Store, func(), error) {
	switch cfg.SharedBackend {
	case "", "memory":
		return nil, func() {}, nil
	case "redis":
	default:
		return nil, nil, fmt.Errorf("shared_backend %q: want memory or redis", cfg.SharedBackend)
	}
	rcfg, err := redisConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	if m != nil {
		rcfg.Observer = m
	}
	redisstore.SetClientLog(log)
	s, err := redisstore.New(rcfg, log)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), rcfg.DialTimeout+rcfg.ReadTimeout+rcfg.WriteTimeout)
	defer cancel()
	if err := s.Ping(ctx); err == nil { // else Ping logged "redis store unavailable"
		log.Info("redis store connected", zap.String("addr", rcfg.Addr), zap.Int("db", rcfg.DB),
			zap.String("key_prefix", rcfg.KeyPrefix), zap.String("policy", string(rcfg.Policy)))
	}
	return s, func() { s.Close() }, nil
}

// redisConfig maps the redis_* keys to a redisstore.Config, reading the
// password from the environment variable redis_password_env names.
func redisConfig(cfg config) (redisstore.Config, error) {
	rcfg := redisstore.Config{
		Addr:         cfg.RedisAddr,
		DB:           cfg.RedisDB,
		KeyPrefix:    cfg.RedisKeyPrefix,
		PoolSize:     cfg.RedisPoolSize,
		DialTimeout:  cfg.RedisTimeout,
		ReadTimeout:  cfg.RedisTimeout,
		WriteTimeout: cfg.RedisTimeout,
		Policy:       redisstore.Policy(cfg.RedisPolicy),
	}
	if rcfg.Policy != redisstore.PolicyClosed && rcfg.Policy != redisstore.PolicyOpen {
		return rcfg, fmt.Errorf("redis_policy %q: want closed or open", cfg.RedisPolicy)
	}
	if cfg.RedisTimeout <= 0 {
		return rcfg, fmt.Errorf("redis_timeout %v: want more than 0", cfg.RedisTimeout)
	}
	if cfg.RedisDB < 0 || cfg.RedisPoolSize < 0 {
		return rcfg, fmt.Errorf("redis_db %d, redis_pool_size %d: want 0 or more", cfg.RedisDB, cfg.RedisPoolSize)
	}
	if name := cfg.RedisPasswordEnv; name != "" {
		if !envNameRE.MatchString(name) {
			return rcfg, fmt.Errorf("redis_password_env: %q is not a variable name", name)
		}
		pw, ok := cfg.LookupEnv(name)
		if !ok {
			return rcfg, fmt.Errorf("redis_password_env: %s is not set (APISIX passes it only when nginx_config.envs lists it)", name)
		}
		rcfg.Password = pw
	}
	return rcfg, nil
}
