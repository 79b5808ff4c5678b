package bindings

import (
	"errors"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

type recordedMetric struct {
	op, script, name string
	labels           map[string]string
	v                float64
}

type fakeMetrics struct{ got []recordedMetric }

func (f *fakeMetrics) record(op, script, name string, labels map[string]string, v float64) error {
	if name == "bad" {
		return errors.New("rejected")
	}
	f.got = append(f.got, recordedMetric{op, script, name, labels, v})
	return nil
}
func (f *fakeMetrics) Inc(s, n string, l map[string]string, v float64) error {
	return f.record("inc", s, n, l, v)
}
func (f *fakeMetrics) Set(s, n string, l map[string]string, v float64) error {
	return f.record("set", s, n, l, v)
}
func (f *fakeMetrics) Observe(s, n string, l map[string]string, v float64) error {
	return f.record("observe", s, n, l, v)
}

func TestMetricsModule(t *testing.T) {
	tests := []struct {
		name, src string
		want      []recordedMetric
		err       string
	}{
		{"inc default", `metrics.inc("hits")`, []recordedMetric{{"inc", "s", "hits", nil, 1}}, ""},
		{"inc labels", `metrics.inc("hits", 2, labels = {"route": "a"})`, []recordedMetric{{"inc", "s", "hits", map[string]string{"route": "a"}, 2}}, ""},
		{"set float", `metrics.set("temp", 1.5)`, []recordedMetric{{"set", "s", "temp", nil, 1.5}}, ""},
		{"observe", `metrics.observe("size", 10, labels = {"k": "v"})`, []recordedMetric{{"observe", "s", "size", map[string]string{"k": "v"}, 10}}, ""},
		{"value type", `metrics.set("x", "1")`, nil, "want int or float"},
		{"label type", `metrics.inc("x", labels = {"a": 1})`, nil, "labels must map str to str"},
		{"sink error", `metrics.inc("bad")`, nil, "metrics.inc: rejected"},
		{"set needs value", `metrics.set("x")`, nil, "missing argument for value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &fakeMetrics{}
			thread := &starlark.Thread{}
			BindCallInfo(thread, &CallInfo{Script: "s"})
			_, err := starlark.ExecFile(thread, "t.star", tc.src, starlark.StringDict{"metrics": newMetricsModule(sink)})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sink.got) != len(tc.want) {
				t.Fatalf("got %v, want %v", sink.got, tc.want)
			}
			for i, g := range sink.got {
				w := tc.want[i]
				if g.op != w.op || g.script != w.script || g.name != w.name || g.v != w.v || len(g.labels) != len(w.labels) {
					t.Errorf("got %+v, want %+v", g, w)
				}
				for k, v := range w.labels {
					if g.labels[k] != v {
						t.Errorf("label %s: got %q, want %q", k, g.labels[k], v)
					}
				}
			}
		})
	}
	// Without a sink the calls are checked and do nothing.
	thread := &starlark.Thread{}
	if _, err := starlark.ExecFile(thread, "t.star", `metrics.inc("x")`, starlark.StringDict{"metrics": newMetricsModule(nil)}); err != nil {
		t.Errorf("no sink: got %v", err)
	}
}
