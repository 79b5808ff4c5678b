package bindings

import (
	"fmt"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// MetricsSink receives the metrics module's updates. The metrics listener
// implements it (Prometheus, with bounded label sets); without one the
// module's functions check their arguments and do nothing else.
type MetricsSink interface {
	Inc(script, name string, labels map[string]string, delta float64) error
	Set(script, name string, labels map[string]string, v float64) error
	Observe(script, name string, labels map[string]string, v float64) error
}

// newMetricsModule returns the metrics module:
//
//	metrics.inc(name, delta=1, labels=None)
//	metrics.set(name, value, labels=None)
//	metrics.observe(name, value, labels=None)
//
// Metrics are exported as scriptrunner_script_<name> (counters with a
// _total suffix) with a "script" label added.
func newMetricsModule(sink MetricsSink) *starlarkstruct.Module {
	op := func(fn string, apply func(MetricsSink, string, string, map[string]string, float64) error, defValue bool) *starlark.Builtin {
		return starlark.NewBuiltin("metrics."+fn, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var name string
			var value starlark.Value = starlark.MakeInt(1)
			var labels starlark.Value = starlark.None
			valueParam := "value"
			if defValue {
				valueParam = "delta?"
			}
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, valueParam, &value, "labels?", &labels); err != nil {
				return nil, err
			}
			v, ok := starlark.AsFloat(value)
			if !ok {
				return nil, fmt.Errorf("%s: got %s, want int or float", b.Name(), value.Type())
			}
			ls, err := metricLabels(b.Name(), labels)
			if err != nil {
				return nil, err
			}
			if sink == nil {
				return starlark.None, nil
			}
			if err := apply(sink, CallInfoOf(thread).Script, name, ls, v); err != nil {
				return nil, fmt.Errorf("%s: %w", b.Name(), err)
			}
			return starlark.None, nil
		})
	}
	return &starlarkstruct.Module{Name: "metrics", Members: starlark.StringDict{
		"inc":     op("inc", MetricsSink.Inc, true),
		"set":     op("set", MetricsSink.Set, false),
		"observe": op("observe", MetricsSink.Observe, false),
	}}
}

// maxMetricLabels bounds the label names of one script metric.
const maxMetricLabels = 8

func metricLabels(fn string, v starlark.Value) (map[string]string, error) {
	if v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("%s: got labels of type %s, want dict", fn, v.Type())
	}
	if d.Len() > maxMetricLabels {
		return nil, fmt.Errorf("%s: got %d labels, want at most %d", fn, d.Len(), maxMetricLabels)
	}
	out := make(map[string]string, d.Len())
	for k, val := range starlark.Entries(d) {
		ks, ok1 := starlark.AsString(k)
		vs, ok2 := starlark.AsString(val)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: labels must map str to str, got %s: %s", fn, k.Type(), val.Type())
		}
		out[ks] = vs
	}
	return out, nil
}
