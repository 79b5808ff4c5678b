package bindings

import (
	"testing"
)

func TestEnvModule(t *testing.T) {
	vars := map[string]string{"DEPLOY_ENV": "staging", "EMPTY": "", "SECRET": "hunter2"}
	lookups := map[string]int{}
	lookup := func(name string) (string, bool) {
		lookups[name]++
		v, ok := vars[name]
		return v, ok
	}
	pre := PredeclaredWith(Options{EnvAllow: []string{"DEPLOY_ENV", "EMPTY", "UNSET"}, LookupEnv: lookup})
	if want := map[string]int{"DEPLOY_ENV": 1, "EMPTY": 1, "UNSET": 1}; len(lookups) != len(want) ||
		lookups["DEPLOY_ENV"] != 1 || lookups["EMPTY"] != 1 || lookups["UNSET"] != 1 {
		t.Errorf("got lookups %v, want %v (each allowed name once, at start)", lookups, want)
	}
	vars["DEPLOY_ENV"] = "changed later" // read once: not seen
	tests := []stateStep{
		{src: `got = env.get("DEPLOY_ENV")`, want: `"staging"`},
		{src: `got = env.get(name="DEPLOY_ENV", default="x")`, want: `"staging"`},
		{src: `got = env.get("EMPTY", "x")`, want: `""`},
		{src: `got = (env.get("UNSET"), env.get("UNSET", "dflt"))`, want: `(None, "dflt")`},
		{src: `got = env.get("SECRET")`, wantErr: `env.get: "SECRET" is not allowed: add it to env_allow in the runner config`},
		{src: `got = env.get("deploy_env")`, wantErr: `"deploy_env" is not allowed`},
		{src: `got = env.get(1)`, wantErr: "env.get: for parameter name: got int, want string"},
	}
	runStateSteps(t, pre, tests)
	if lookups["SECRET"] != 0 {
		t.Errorf("got SECRET looked up, want only allowed names read")
	}
}

func TestEnvModuleDefaults(t *testing.T) {
	runStateSteps(t, Predeclared(), []stateStep{
		{src: `got = env.get("HOME")`, wantErr: `env.get: "HOME" is not allowed`},
	})
	// Allowed, but nothing to look it up with: unset.
	runStateSteps(t, PredeclaredWith(Options{EnvAllow: []string{"HOME"}}), []stateStep{
		{src: `got = env.get("HOME", "none")`, want: `"none"`},
	})
}
