// Package archtest enforces the import direction of design.md: which
// packages of this module may depend on which, and where third-party
// libraries may appear. The rules are data; the test in this package
// checks them against `go list -deps`.
package archtest

import (
	"fmt"
	"sort"
	"strings"
)

// Module is this module's path.
const Module = "github.com/scriptrunner/scriptrunner"

// Rule constrains the transitive dependencies of one package (and its
// sub-packages when Prefix is true).
type Rule struct {
	Package string // path relative to Module, e.g. "bindings"
	// Allow lists the module packages (relative, prefix match) it may
	// depend on. Anything else of this module is a violation.
	Allow []string
	// Deny lists third-party import path prefixes it must not depend on.
	Deny []string
}

// Rules are design.md's import rules.
var Rules = []Rule{
	// The binary links no test helpers (and so not package testing).
	{Package: "cmd/scriptrunner", Allow: []string{"bindings", "engine", "protocol", "protocol/apisix", "protocol/internal/",
		"internal/runner", "internal/metrics", "internal/authoring", "internal/loadgen", "internal/loadgen/floor", "internal/redisstore"},
		Deny: []string{"testing"}},
	{Package: "protocol", Allow: []string{"protocol/internal/"},
		Deny: []string{"go.starlark.net", "github.com/knadh/koanf"}},
	{Package: "protocol/apisix", Allow: []string{"protocol", "protocol/internal/"},
		Deny: []string{"go.starlark.net", "github.com/knadh/koanf", "testing"}},
	{Package: "protocol/protocoltest", Allow: []string{"protocol", "protocol/apisix", "protocol/internal/"},
		Deny: []string{"go.starlark.net", "github.com/knadh/koanf"}},
	{Package: "bindings", Allow: nil,
		Deny: []string{"github.com/google/flatbuffers", "go.uber.org/zap", "github.com/knadh/koanf"}},
	{Package: "engine", Allow: []string{"bindings"},
		Deny: []string{"github.com/google/flatbuffers", "github.com/knadh/koanf"}},
	{Package: "internal/runner", Allow: []string{"protocol", "protocol/internal/", "engine", "bindings"},
		Deny: []string{"github.com/knadh/koanf"}},
	// The offline tools of script authors (check, test, call, fmt) run
	// scripts through the engine, never through the protocol.
	{Package: "internal/authoring", Allow: []string{"engine", "bindings"},
		Deny: []string{"github.com/google/flatbuffers", "github.com/knadh/koanf"}},
	{Package: "internal/runner/runnertest", Allow: []string{"internal/runner", "protocol", "protocol/protocoltest", "protocol/apisix", "protocol/internal/", "engine", "bindings"},
		Deny: []string{"github.com/knadh/koanf"}},
	// The Redis store implements bindings.Store with go-redis; it reports
	// failures through an observer interface, not to Prometheus directly.
	{Package: "internal/redisstore", Allow: []string{"bindings"},
		Deny: []string{"github.com/google/flatbuffers", "github.com/knadh/koanf", "github.com/prometheus"}},
}

// Violation is one forbidden dependency.
type Violation struct {
	Package, Dep, Why string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s depends on %s: %s", v.Package, v.Dep, v.Why)
}

// Check returns the violations of rules in deps, a map from each package
// import path to its transitive dependencies.
func Check(rules []Rule, deps map[string][]string) []Violation {
	var out []Violation
	pkgs := make([]string, 0, len(deps))
	for p := range deps {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		rule, ok := ruleFor(rules, pkg)
		if !ok {
			continue
		}
		for _, dep := range deps[pkg] {
			if why := rule.forbids(dep); why != "" {
				out = append(out, Violation{Package: pkg, Dep: dep, Why: why})
			}
		}
	}
	return out
}

// ruleFor returns the rule of pkg: the rule with the longest matching
// package path.
func ruleFor(rules []Rule, pkg string) (Rule, bool) {
	rel, ok := strings.CutPrefix(pkg, Module+"/")
	if !ok {
		return Rule{}, false
	}
	best, found := Rule{}, false
	for _, r := range rules {
		if (rel == r.Package || strings.HasPrefix(rel, r.Package+"/")) && len(r.Package) >= len(best.Package) {
			best, found = r, true
		}
	}
	return best, found
}

func (r Rule) forbids(dep string) string {
	if rel, ok := strings.CutPrefix(dep, Module+"/"); ok {
		if rel == r.Package || strings.HasPrefix(rel, r.Package+"/") {
			return ""
		}
		for _, a := range r.Allow {
			if rel == a || strings.HasSuffix(a, "/") && strings.HasPrefix(rel, a) {
				return ""
			}
		}
		return "module package not allowed for " + r.Package
	}
	for _, d := range r.Deny {
		if dep == d || strings.HasPrefix(dep, d+"/") {
			return "third-party " + d + " is not allowed in " + r.Package
		}
	}
	return ""
}
