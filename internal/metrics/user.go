package metrics

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Script-defined metrics (the `metrics` module) live under the
// scriptrunner_script_ prefix with a "script" label. Each metric keeps at
// most MaxLabelValues distinct label sets; further ones collapse into
// label values "other", so a script labelling by user id cannot exhaust
// memory or the scraper.
const MaxLabelValues = 100

// Other is the label value excess label sets collapse into.
const Other = "other"

var metricNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

type userKind uint8

const (
	counter userKind = iota
	gauge
	histogram
)

type userMetric struct {
	kind   userKind
	labels []string // label names, "script" first
	vec    prometheus.Collector
	seen   map[string]bool // label sets admitted
}

type userMetrics struct {
	reg       *prometheus.Registry
	mu        sync.Mutex
	byName    map[string]*userMetric
	collapsed func(metric string) // called once per metric when it first collapses
}

func newUserMetrics(reg *prometheus.Registry) *userMetrics {
	return &userMetrics{reg: reg, byName: map[string]*userMetric{}}
}

// OnCollapse sets the function told, once per metric, that label sets
// started collapsing into "other" (the runner logs it).
func (m *Metrics) OnCollapse(f func(metric string)) {
	m.user.mu.Lock()
	m.user.collapsed = f
	m.user.mu.Unlock()
}

// Inc adds delta to the script's counter name.
func (m *Metrics) Inc(script, name string, labels map[string]string, delta float64) error {
	if delta < 0 {
		return fmt.Errorf("metrics.inc: got delta %v, want >= 0", delta)
	}
	return m.user.apply(counter, script, name, labels, delta)
}

// Set sets the script's gauge name.
func (m *Metrics) Set(script, name string, labels map[string]string, v float64) error {
	return m.user.apply(gauge, script, name, labels, v)
}

// Observe adds an observation to the script's histogram name.
func (m *Metrics) Observe(script, name string, labels map[string]string, v float64) error {
	return m.user.apply(histogram, script, name, labels, v)
}

func (k userKind) String() string {
	switch k {
	case counter:
		return "counter"
	case gauge:
		return "gauge"
	}
	return "histogram"
}

func (u *userMetrics) apply(kind userKind, script, name string, labels map[string]string, v float64) error {
	if !metricNameRE.MatchString(name) {
		return fmt.Errorf("metrics: invalid metric name %q", name)
	}
	names := make([]string, 0, len(labels)+1)
	names = append(names, "script")
	for k := range labels {
		if !metricNameRE.MatchString(k) || k == "script" || strings.HasPrefix(k, "__") {
			return fmt.Errorf("metrics: invalid label name %q", k)
		}
		names = append(names, k)
	}
	sort.Strings(names[1:])
	full := "scriptrunner_script_" + name
	if kind == counter && !strings.HasSuffix(full, "_total") {
		full += "_total"
	}

	u.mu.Lock()
	um, err := u.metric(kind, full, names)
	if err != nil {
		u.mu.Unlock()
		return err
	}
	values := make([]string, len(names))
	values[0] = script
	for i, n := range names[1:] {
		values[i+1] = labels[n]
	}
	key := strings.Join(values, "\xff")
	if !um.seen[key] {
		if len(um.seen) >= MaxLabelValues {
			for i := 1; i < len(values); i++ {
				values[i] = Other
			}
			if !um.seen["\x00collapsed"] {
				um.seen["\x00collapsed"] = true
				if u.collapsed != nil {
					defer u.collapsed(full)
				}
			}
		} else {
			um.seen[key] = true
		}
	}
	u.mu.Unlock()

	switch c := um.vec.(type) {
	case *prometheus.CounterVec:
		c.WithLabelValues(values...).Add(v)
	case *prometheus.GaugeVec:
		c.WithLabelValues(values...).Set(v)
	case *prometheus.HistogramVec:
		c.WithLabelValues(values...).Observe(v)
	}
	return nil
}

// metric returns the metric full, creating it on first use. A name keeps
// its kind and label names for the life of the process.
func (u *userMetrics) metric(kind userKind, full string, names []string) (*userMetric, error) {
	if um, ok := u.byName[full]; ok {
		if um.kind != kind || strings.Join(um.labels, ",") != strings.Join(names, ",") {
			return nil, fmt.Errorf("metrics: %s is a %s with labels %v; got a %s with labels %v",
				full, um.kind, um.labels[1:], kind, names[1:])
		}
		return um, nil
	}
	help := "Defined by scripts with metrics." + map[userKind]string{counter: "inc", gauge: "set", histogram: "observe"}[kind] + "."
	var vec prometheus.Collector
	switch kind {
	case counter:
		vec = prometheus.NewCounterVec(prometheus.CounterOpts{Name: full, Help: help}, names)
	case gauge:
		vec = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: full, Help: help}, names)
	default:
		vec = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: full, Help: help}, names)
	}
	if err := u.reg.Register(vec); err != nil {
		return nil, fmt.Errorf("metrics: register %s: %w", full, err)
	}
	um := &userMetric{kind: kind, labels: names, vec: vec, seen: map[string]bool{}}
	u.byName[full] = um
	return um, nil
}
