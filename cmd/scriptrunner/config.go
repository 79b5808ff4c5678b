package main

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// config is the runner configuration. Keys are the same in the YAML file,
// in SCRIPTRUNNER_<KEY> environment variables and in --<key> flags (with
// '-' for '_'). Precedence: flags > env > file > defaults.
type config struct {
	Scripts        string        `koanf:"scripts"`
	LogLevel       string        `koanf:"log_level"`
	MaxSteps       uint64        `koanf:"max_steps"`
	Timeout        time.Duration `koanf:"timeout"`
	MaxBodyBytes   int           `koanf:"max_body_bytes"`
	ErrorStatus    int           `koanf:"error_status"`
	OnError        string        `koanf:"on_error"`
	MaxBuildBytes  int           `koanf:"max_build_bytes"`
	MaxRespBytes   int           `koanf:"max_response_bytes"`
	MaxDepth       int           `koanf:"max_depth"`
	SocketMode     string        `koanf:"socket_mode"`
	ExitWithParent bool          `koanf:"exit_with_parent"`
	DrainTimeout   time.Duration `koanf:"drain_timeout"`
	SocketWait     time.Duration `koanf:"socket_wait"`
	EnvAllow       []string      `koanf:"env_allow"`
	SharedMaxKeys  int           `koanf:"shared_max_keys"`
	SharedMaxBytes int64         `koanf:"shared_max_bytes"`
	LogRate        float64       `koanf:"log_rate"`
	LogBurst       int           `koanf:"log_burst"`
	ReloadInterval time.Duration `koanf:"reload_interval"`
	MetricsAddr    string        `koanf:"metrics_addr"`

	SharedBackend    string        `koanf:"shared_backend"`
	RedisAddr        string        `koanf:"redis_addr"`
	RedisPasswordEnv string        `koanf:"redis_password_env"`
	RedisDB          int           `koanf:"redis_db"`
	RedisKeyPrefix   string        `koanf:"redis_key_prefix"`
	RedisPoolSize    int           `koanf:"redis_pool_size"`
	RedisTimeout     time.Duration `koanf:"redis_timeout"`
	RedisPolicy      string        `koanf:"redis_policy"`

	// From APISIX's environment, not from koanf.
	ListenPath string        `koanf:"-"`
	ConfExpire time.Duration `koanf:"-"`
	// LookupEnv reads the runner's environment (for env_allow).
	LookupEnv func(string) (string, bool) `koanf:"-"`
}

// option is one configuration key: its default and its help text. Flags
// (--key-with-dashes), environment variables (SCRIPTRUNNER_KEY) and file
// keys are all derived from this table.
type option struct {
	key   string
	def   string
	usage string
}

var options = []option{
	{"scripts", "./scripts", "scripts directory"},
	{"log_level", "info", "log level: debug, info, warn, error"},
	{"max_steps", "200000", "Starlark step budget per handler call"},
	{"timeout", "500ms", "wall-clock limit per handler call"},
	{"max_body_bytes", "8388608", "largest body a script may read, in bytes (negative: no cap)"},
	{"error_status", "500", "status of the response sent when a script fails"},
	{"on_error", "closed", "when a script fails: closed (answer with error_status) or continue (log, drop its changes, run the rest of the chain)"},
	{"max_build_bytes", "67108864", "bytes one handler call may build with strings, lists, formatting and json (negative: no cap)"},
	{"max_response_bytes", "12582912", "largest response one call may answer with: names, values, path and body (negative: no cap)"},
	{"max_depth", "1000", "deepest nesting of values json/str/repr accept, and of calls (1 to 100000)"},
	{"socket_mode", "0766", "permission bits of the socket file (octal)"},
	{"exit_with_parent", "true", "exit when the parent process (APISIX) is gone"},
	{"drain_timeout", "900ms", "how long SIGTERM waits for calls in flight"},
	{"socket_wait", "3s", "how long to wait for another live runner to release the socket path"},
	{"env_allow", "", "environment variables scripts may read with env.get (comma-separated; a list in the file)"},
	{"shared_max_keys", "100000", "most keys the shared store holds (values and rate-limit buckets)"},
	{"shared_max_bytes", "67108864", "most bytes of keys and values the shared store holds"},
	{"log_rate", "20", "log records per second one script may write (negative: no limit)"},
	{"log_burst", "50", "log records one script may write at once"},
	{"reload_interval", "2s", "how often scripts are rescanned for changes besides file events"},
	{"metrics_addr", "", "host:port of the metrics and health listener (e.g. 127.0.0.1:9464); empty: off"},
	{"shared_backend", "memory", "where the shared and ratelimit state lives: memory (this runner) or redis (shared by every runner using the same Redis)"},
	{"redis_addr", "127.0.0.1:6379", "host:port of the Redis server (shared_backend: redis)"},
	{"redis_password_env", "", "name of the environment variable holding the Redis password; empty: no AUTH"},
	{"redis_db", "0", "Redis database number"},
	{"redis_key_prefix", "scriptrunner:", "prefix of every Redis key the runner writes"},
	{"redis_pool_size", "0", "most Redis connections (0: 10 per CPU)"},
	{"redis_timeout", "200ms", "limit of one Redis connect, write or reply wait"},
	{"redis_policy", "closed", "when Redis cannot be used: closed (the script call fails) or open (allow, absent, writes dropped)"},
}

func flagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

const envPrefix = "SCRIPTRUNNER_"

// loadConfig merges defaults, the --config file, SCRIPTRUNNER_* variables
// and the flags that were set on the command line.
func loadConfig(fs *flag.FlagSet, configFile string, environ func() []string) (config, error) {
	k := koanf.New(".")
	var cfg config
	defaults := map[string]any{}
	for _, o := range options {
		defaults[o.key] = o.def
	}
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return cfg, err
	}
	if configFile != "" {
		if err := k.Load(file.Provider(configFile), yaml.Parser()); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", configFile, err)
		}
	}
	envProvider := env.Provider(".", env.Opt{
		Prefix:      envPrefix,
		EnvironFunc: environ,
		TransformFunc: func(k, v string) (string, any) {
			return strings.ToLower(strings.TrimPrefix(k, envPrefix)), v
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return cfg, err
	}
	flags := map[string]any{}
	fs.Visit(func(f *flag.Flag) {
		if f.Name != "config" {
			flags[strings.ReplaceAll(f.Name, "-", "_")] = f.Value.String()
		}
	})
	if err := k.Load(confmap.Provider(flags, "."), nil); err != nil {
		return cfg, err
	}
	if err := checkKeys(k); err != nil {
		return cfg, err
	}
	if err := splitLists(k); err != nil {
		return cfg, err
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", FlatPaths: false}); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := checkEnvAllow(cfg.EnvAllow); err != nil {
		return cfg, err
	}
	cfg.LookupEnv = lookupEnv(environ)
	return cfg, nil
}

// listKeys are the keys whose value is a list: a YAML list in the file, a
// comma-separated string in the environment and in flags.
var listKeys = []string{"env_allow"}

// splitLists turns comma-separated list values into lists, dropping empty
// items and spaces around them.
func splitLists(k *koanf.Koanf) error {
	for _, key := range listKeys {
		s, ok := k.Get(key).(string)
		if !ok {
			continue
		}
		items := []string{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		if err := k.Set(key, items); err != nil {
			return fmt.Errorf("config: %s: %w", key, err)
		}
	}
	return nil
}

// checkEnvAllow rejects names that cannot be environment variables, such
// as "A B" or a forgotten comma's "A;B".
func checkEnvAllow(names []string) error {
	for _, name := range names {
		if !envNameRE.MatchString(name) {
			return fmt.Errorf("config: env_allow: %q is not a variable name (want letters, digits and '_', not starting with a digit)", name)
		}
	}
	return nil
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// checkKeys rejects keys scriptrunner does not know, from any source.
func checkKeys(k *koanf.Koanf) error {
	var unknown []string
	for _, key := range k.Keys() {
		if !slices.ContainsFunc(options, func(o option) bool { return o.key == key }) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config: unknown key(s) %s (from the --config file, or from %s<KEY> environment variables, which are all read as keys)",
			strings.Join(unknown, ", "), envPrefix)
	}
	return nil
}

// apisixEnv reads the variables APISIX sets when it starts the runner.
func apisixEnv(environ func() []string, cfg *config) error {
	getenv := lookupEnv(environ)
	addr, _ := getenv("APISIX_LISTEN_ADDRESS")
	if addr == "" {
		return errors.New("APISIX_LISTEN_ADDRESS is not set; want unix:/path/to/socket (APISIX sets it when it starts the runner)")
	}
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok || path == "" {
		return fmt.Errorf("APISIX_LISTEN_ADDRESS=%q: want unix:/path/to/socket", addr)
	}
	cfg.ListenPath = path
	cfg.ConfExpire = time.Hour
	if s, _ := getenv("APISIX_CONF_EXPIRE_TIME"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("APISIX_CONF_EXPIRE_TIME=%q: want a positive number of seconds", s)
		}
		cfg.ConfExpire = time.Duration(n) * time.Second
	}
	return nil
}

// lookupEnv returns an os.LookupEnv over an environment list.
func lookupEnv(environ func() []string) func(string) (string, bool) {
	vars := environ()
	return func(name string) (string, bool) {
		for i := len(vars) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(vars[i], name+"="); ok {
				return v, true
			}
		}
		return "", false
	}
}
