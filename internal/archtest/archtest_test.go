package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection checks the rules against the real module.
func TestImportDirection(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	out, err := exec.Command("go", "list", "-deps=false", "-f",
		"{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", Module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps[f[0]] = f[1:]
	}
	for _, must := range []string{"protocol", "bindings", "engine", "internal/runner"} {
		if _, ok := deps[Module+"/"+must]; !ok {
			t.Fatalf("go list did not report %s; got %d packages", must, len(deps))
		}
	}
	for _, v := range Check(Rules, deps) {
		t.Error(v)
	}
}

// TestCheckCatches gives the guard its own failing cases: each synthetic
// graph breaks one rule and must be reported.
func TestCheckCatches(t *testing.T) {
	m := Module + "/"
	tests := []struct {
		name string
		deps map[string][]string
		want string
	}{
		{"bindings imports protocol", map[string][]string{m + "bindings": {m + "protocol"}}, m + "protocol"},
		{"protocol imports starlark", map[string][]string{m + "protocol": {"go.starlark.net/starlark"}}, "go.starlark.net/starlark"},
		{"engine imports protocol", map[string][]string{m + "engine": {m + "bindings", m + "protocol"}}, m + "protocol"},
		{"runner imports cmd", map[string][]string{m + "internal/runner": {m + "cmd/scriptrunner"}}, m + "cmd/scriptrunner"},
		{"bindings uses zap", map[string][]string{m + "bindings": {"go.uber.org/zap/zapcore"}}, "go.uber.org/zap/zapcore"},
		{"authoring imports protocol", map[string][]string{m + "internal/authoring": {m + "engine", m + "protocol"}}, m + "protocol"},
		{"authoring imports runner", map[string][]string{m + "internal/authoring": {m + "internal/runner"}}, m + "internal/runner"},
		{"engine uses koanf", map[string][]string{m + "engine": {"github.com/knadh/koanf/v2"}}, "github.com/knadh/koanf/v2"},
		{"redisstore imports engine", map[string][]string{m + "internal/redisstore": {m + "bindings", m + "engine"}}, m + "engine"},
		{"redisstore uses prometheus", map[string][]string{m + "internal/redisstore": {"github.com/prometheus/client_golang/prometheus"}}, "github.com/prometheus/client_golang/prometheus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(Rules, tc.deps)
			if len(got) != 1 || got[0].Dep != tc.want {
				t.Errorf("got %v, want one violation on %s", got, tc.want)
			}
		})
	}
	ok := map[string][]string{
		m + "engine":           {m + "bindings", "go.starlark.net/starlark", "go.uber.org/zap"},
		m + "internal/runner":  {m + "engine", m + "protocol", m + "protocol/internal/A6"},
		m + "cmd/scriptrunner": {m + "internal/runner", "github.com/knadh/koanf/v2"},
	}
	if got := Check(Rules, ok); len(got) != 0 {
		t.Errorf("allowed graph: got violations %v", got)
	}
}
