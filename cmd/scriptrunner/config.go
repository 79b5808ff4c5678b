package main

import (
	"errors"
	"flag"
	"fmt"
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
	SocketMode     string        `koanf:"socket_mode"`
	ExitWithParent bool          `koanf:"exit_with_parent"`
	DrainTimeout   time.Duration `koanf:"drain_timeout"`
	SocketWait     time.Duration `koanf:"socket_wait"`
	ReloadInterval time.Duration `koanf:"reload_interval"`

	// From APISIX's environment, not from koanf.
	ListenPath string        `koanf:"-"`
	ConfExpire time.Duration `koanf:"-"`
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
	{"socket_mode", "0766", "permission bits of the socket file (octal)"},
	{"exit_with_parent", "true", "exit when the parent process (APISIX) is gone"},
	{"drain_timeout", "900ms", "how long SIGTERM waits for calls in flight"},
	{"socket_wait", "3s", "how long to wait for another live runner to release the socket path"},
	{"reload_interval", "2s", "how often scripts are rescanned for changes besides file events"},
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
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", FlatPaths: false}); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// checkKeys rejects keys scriptrunner does not know, from any source.
func checkKeys(k *koanf.Koanf) error {
	var unknown []string
	for _, key := range k.Keys() {
		if !slices.ContainsFunc(options, func(o option) bool { return o.key == key }) {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config: unknown key(s) %s", strings.Join(unknown, ", "))
	}
	return nil
}

// apisixEnv reads the variables APISIX sets when it starts the runner.
func apisixEnv(environ func() []string, cfg *config) error {
	getenv := lookup(environ)
	addr := getenv("APISIX_LISTEN_ADDRESS")
	if addr == "" {
		return errors.New("APISIX_LISTEN_ADDRESS is not set; want unix:/path/to/socket (APISIX sets it when it starts the runner)")
	}
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok || path == "" {
		return fmt.Errorf("APISIX_LISTEN_ADDRESS=%q: want unix:/path/to/socket", addr)
	}
	cfg.ListenPath = path
	cfg.ConfExpire = time.Hour
	if s := getenv("APISIX_CONF_EXPIRE_TIME"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("APISIX_CONF_EXPIRE_TIME=%q: want a positive number of seconds", s)
		}
		cfg.ConfExpire = time.Duration(n) * time.Second
	}
	return nil
}

// lookup returns a getenv over an environment list.
func lookup(environ func() []string) func(string) string {
	vars := environ()
	return func(name string) string {
		for i := len(vars) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(vars[i], name+"="); ok {
				return v
			}
		}
		return ""
	}
}
