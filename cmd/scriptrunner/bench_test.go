package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/loadgen"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
)

const benchConfFlag = `bench_filter={"header":"X-Api-Key","key":"secret"}`

// TestBenchSocket runs `bench --socket` against an in-process runner.
func TestBenchSocket(t *testing.T) {
	h := runnertest.Start(t, runnertest.Bundled(t, "../../scripts"), engine.Config{})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--socket", "sr=" + h.Server.Path, "--conf", benchConfFlag,
		"--socket", "var=" + h.Server.Path, "--conf-for", `var:bench_var={"header":"X-Api-Key","key":"secret"}`,
		"--conns", "1,2", "--duration", "200ms", "--warmup", "0s", "--json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, stdout.String())
	}
	if len(rep.Results) != 4 {
		t.Fatalf("got %d results, want 4 (2 targets × conns 1 and 2)", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Calls == 0 || r.Errors != 0 || r.Reply != "rewrite X-User: alice" {
			t.Errorf("got %+v, want calls > 0, no errors, the allow path", r)
		}
		if asked := r.ExtraInfo > 0; asked != (r.Label == "var") {
			t.Errorf("%s: got %d ExtraInfo answers, want some only for bench_var", r.Label, r.ExtraInfo)
		}
	}
	if !strings.Contains(stderr.String(), "calls/s") {
		t.Errorf("stderr has no table:\n%s", stderr.String())
	}
	// var is compared with sr, the first target, at each count.
	if len(rep.Comparison) != 2 {
		t.Fatalf("got %d comparisons, want 2: %+v", len(rep.Comparison), rep.Comparison)
	}
	for i, c := range rep.Comparison {
		if c.Label != "var" || c.Base != "sr" || c.Conns != i+1 || c.Ratio <= 0 || len(c.RoundRatios) != 1 {
			t.Errorf("comparison %d: %+v, want var against sr at %d conns with one round", i, c, i+1)
		}
	}
	if !strings.Contains(stderr.String(), "compared with sr") {
		t.Errorf("stderr has no comparison:\n%s", stderr.String())
	}
}

func TestBenchInProcess(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--scripts", "../../scripts", "--conf", benchConfFlag, "--n", "200", "--deny"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	for _, want := range []string{"200 calls", "ns/op", "allocs/op", "steps/op", `stop 403 "forbidden"`} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "help hides serve-floor", args: []string{"-h"}, code: 0, want: "Usage: scriptrunner bench"},
		{name: "no conf", args: []string{"--n", "1"}, code: 2, want: "--conf"},
		{name: "bad conns", args: []string{"--socket", "x", "--conf", "a={}", "--conns", "0"}, code: 2, want: "conns"},
		{name: "argument", args: []string{"extra"}, code: 2, want: "unexpected argument"},
		{name: "conf-for unknown label", args: []string{"--socket", "a=x", "--conf", "a={}", "--conf-for", "b:a={}"}, code: 2, want: "conf-for"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"bench"}, tc.args...), &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.code || !strings.Contains(out, tc.want) || strings.Contains(out, "serve-floor") || strings.Contains(out, "floor-work") {
				t.Errorf("exit %d, want %d and %q without serve-floor and floor-work:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
}

func TestCutCPUProfileFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
		rest []string
		file string
	}{
		{name: "none", args: []string{"--scripts", "s"}, rest: []string{"--scripts", "s"}},
		{name: "separate", args: []string{"--cpuprofile", "p.out", "--scripts", "s"}, rest: []string{"--scripts", "s"}, file: "p.out"},
		{name: "equals", args: []string{"-scripts=s", "-cpuprofile=p.out"}, rest: []string{"-scripts=s"}, file: "p.out"},
		{name: "after --", args: []string{"--", "--cpuprofile", "x"}, rest: []string{"--", "--cpuprofile", "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rest, file := cutCPUProfileFlag(tc.args)
			if !slices.Equal(rest, tc.rest) || file != tc.file {
				t.Errorf("got %q, %q; want %q, %q", rest, file, tc.rest, tc.file)
			}
		})
	}
}
