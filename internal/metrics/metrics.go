// Package metrics is scriptrunner's Prometheus instrumentation and its
// HTTP listener (/metrics, /healthz, /readyz). Nothing here runs unless
// the operator sets metrics_addr: the runner and engine hold a nil
// observer otherwise, and pay one nil check per event.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are values read at scrape time.
type Sources struct {
	OpenConns func() int // connections being served
	Confs     func() int // cached confs
}

// Metrics holds the registry and every collector. Its methods are safe
// for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	calls       *prometheus.CounterVec   // script, phase, outcome
	duration    *prometheus.HistogramVec // phase
	steps       *prometheus.HistogramVec // phase
	extraInfo   *prometheus.CounterVec   // kind
	tokenMisses prometheus.Counter
	reloads     *prometheus.CounterVec // result
	storeErrors *prometheus.CounterVec // op
	scriptInfo  *prometheus.GaugeVec   // script, sha256

	mu       sync.Mutex
	versions map[string]string // script -> sha256 exported in scriptInfo

	user *userMetrics
}

// New builds the collectors and registers them with Go runtime and
// process metrics.
func New(src Sources) *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		versions: map[string]string{},
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scriptrunner_calls_total",
			Help: "Handler calls by script, phase (request, response) and outcome (continue, rewrite, stop, error, timeout).",
		}, []string{"script", "phase", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scriptrunner_call_duration_seconds",
			Help:    "Duration of an HTTPReqCall or HTTPRespCall, whole chain and ExtraInfo round trips included.",
			Buckets: []float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3, 0.25, 1},
		}, []string{"phase"}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scriptrunner_call_steps",
			Help:    "Starlark steps used by one call (all scripts of the chain).",
			Buckets: prometheus.ExponentialBuckets(10, 4, 9),
		}, []string{"phase"}),
		extraInfo: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scriptrunner_extra_info_total",
			Help: "ExtraInfo questions asked of APISIX, by kind (var, req_body, resp_body).",
		}, []string{"kind"}),
		tokenMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scriptrunner_conf_token_misses_total",
			Help: "Calls whose conf token was unknown or expired (answered CONF_TOKEN_NOT_FOUND).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scriptrunner_reloads_total",
			Help: "Script reloads by result (ok, rejected, deleted).",
		}, []string{"result"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scriptrunner_store_errors_total",
			Help: "Shared-store operations (get, set, incr, delete, cas, allow, ping) that failed because the Redis backend could not be used.",
		}, []string{"op"}),
		scriptInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scriptrunner_script_info",
			Help: "1 for the version (sha256) of each script currently installed.",
		}, []string{"script", "sha256"}),
	}
	m.user = newUserMetrics(m.reg)
	m.reg.MustRegister(m.calls, m.duration, m.steps, m.extraInfo, m.tokenMisses, m.reloads, m.storeErrors, m.scriptInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.OpenConns != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scriptrunner_open_connections", Help: "APISIX connections being served.",
		}, func() float64 { return float64(src.OpenConns()) }))
	}
	if src.Confs != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scriptrunner_confs", Help: "Prepared confs in the cache.",
		}, func() float64 { return float64(src.Confs()) }))
	}
	return m
}

// Registry returns the registry, for tests and embedding.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveHandler records one handler's outcome (engine.Observer).
func (m *Metrics) ObserveHandler(script, phase, outcome string) {
	m.calls.WithLabelValues(script, phase, outcome).Inc()
}

// ObserveCall records a finished call.
func (m *Metrics) ObserveCall(phase string, d time.Duration, steps uint64) {
	m.duration.WithLabelValues(phase).Observe(d.Seconds())
	m.steps.WithLabelValues(phase).Observe(float64(steps))
}

// ObserveExtraInfo records one ExtraInfo question.
func (m *Metrics) ObserveExtraInfo(kind string) { m.extraInfo.WithLabelValues(kind).Inc() }

// ObserveTokenMiss records a call with an unknown conf token.
func (m *Metrics) ObserveTokenMiss() { m.tokenMisses.Inc() }

// ObserveReload records a reload result.
func (m *Metrics) ObserveReload(result string) { m.reloads.WithLabelValues(result).Inc() }

// ObserveStoreError records a shared-store operation that failed because
// its backend could not be used (redisstore.Observer).
func (m *Metrics) ObserveStoreError(op string) { m.storeErrors.WithLabelValues(op).Inc() }

// ObserveScriptVersion exports sha as the installed version of script;
// an empty sha removes it.
func (m *Metrics) ObserveScriptVersion(script, sha string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.versions[script]; ok {
		m.scriptInfo.DeleteLabelValues(script, old)
	}
	if sha == "" {
		delete(m.versions, script)
		return
	}
	m.versions[script] = sha
	m.scriptInfo.WithLabelValues(script, sha).Set(1)
}

// ServeMux returns the listener's routes: /metrics, /healthz (the process
// is alive) and /readyz (ready() reports the socket listening and the
// scripts loaded).
func (m *Metrics) ServeMux(ready func() bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil && !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}
