package bindings

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The env module: environment variables the runner configuration allows
// (Options.EnvAllow), read once when the module is made. Asking for a
// variable that is not allowed is an error that names the config key, so
// a misconfiguration shows at the first call instead of reading as an
// unset variable.

// envModule holds the allowlist and the values read from it. Both maps
// are written only by newEnvModule.
type envModule struct {
	allowed map[string]bool
	values  map[string]string // allowed variables that are set
}

// newEnvModule returns the env module for the names in allow, looked up
// with lookup (nil: none is set).
func newEnvModule(allow []string, lookup func(string) (string, bool)) *starlarkstruct.Module {
	m := &envModule{allowed: make(map[string]bool, len(allow)), values: make(map[string]string, len(allow))}
	for _, name := range allow {
		m.allowed[name] = true
		if lookup == nil {
			continue
		}
		if v, ok := lookup(name); ok {
			m.values[name] = v
		}
	}
	return &starlarkstruct.Module{Name: "env", Members: starlark.StringDict{
		"get": starlark.NewBuiltin("env.get", m.get),
	}}
}

// env.get(name, default=None) -> str, or default when the allowed
// variable is unset.
func (m *envModule) get(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var dflt starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "default?", &dflt); err != nil {
		return nil, err
	}
	if !m.allowed[name] {
		return nil, fmt.Errorf("%s: %q is not allowed: add it to env_allow in the runner config", b.Name(), name)
	}
	if v, ok := m.values[name]; ok {
		return starlark.String(v), nil
	}
	return dflt, nil
}
