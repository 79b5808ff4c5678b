package metrics_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/metrics"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// scrape returns the exposition lines without comments, by series.
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

const filter = `
def on_request(req, conf):
    req.var("remote_addr")
    if req.headers.get("x-key") == "boom":
        fail("boom")
    if req.headers.get("x-key") != "ok":
        return respond(403)
`

func TestScrapeAfterKnownTraffic(t *testing.T) {
	var h *runnertest.Harness
	m := metrics.New(metrics.Sources{
		OpenConns: func() int { return h.Server.OpenConns() },
		Confs:     func() int { return h.Runner.Confs() },
	})
	h = runnertest.StartWith(t, map[string][]byte{"f.star": []byte(filter)},
		engine.Config{Observer: m}, runner.Config{Observer: m})
	srv := httptest.NewServer(m.ServeMux(func() bool { return true }))
	defer srv.Close()

	conn := h.Server.Dial(t)
	token, err := conn.Prepare("k", protocoltest.KV{Name: "f", Value: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	call := func(key string, token uint32) {
		t.Helper()
		if _, _, err := conn.Call(protocoltest.ReqCall{ID: 1, ConfToken: token, Path: "/",
			Headers: protocoltest.KVs("x-key", key)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		call("ok", token)
	}
	for range 2 {
		call("no", token)
	}
	call("boom", token)
	call("ok", token+1)     // unknown token
	conn = h.Server.Dial(t) // APISIX closes a connection after an error

	got := scrape(t, srv.URL+"/metrics")
	want := map[string]string{
		`scriptrunner_calls_total{outcome="continue",phase="request",script="f"}`: "3",
		`scriptrunner_calls_total{outcome="stop",phase="request",script="f"}`:     "2",
		`scriptrunner_calls_total{outcome="error",phase="request",script="f"}`:    "1",
		`scriptrunner_extra_info_total{kind="var"}`:                               "6",
		`scriptrunner_conf_token_misses_total`:                                    "1",
		`scriptrunner_call_duration_seconds_count{phase="request"}`:               "6",
		`scriptrunner_call_steps_count{phase="request"}`:                          "6",
		`scriptrunner_confs`: "1",
		`scriptrunner_script_info{script="f",sha256="` + h.Runner.ScriptSHA256("f") + `"}`: "1",
	}
	for series, v := range want {
		if got[series] != v {
			t.Errorf("%s: got %q, want %q", series, got[series], v)
		}
	}
	if got["scriptrunner_open_connections"] == "" || got["go_goroutines"] == "" {
		t.Errorf("missing open connections or Go runtime metrics")
	}
}

func TestHealthAndReady(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	ready := false
	srv := httptest.NewServer(m.ServeMux(func() bool { return ready }))
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: got %d, want 200", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz before ready: got %d, want 503", code)
	}
	ready = true
	if code, body := get("/readyz"); code != 200 || body != "ready\n" {
		t.Errorf("/readyz: got %d %q, want 200", code, body)
	}
}

func TestUserMetricsCardinality(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	var collapsed []string
	m.OnCollapse(func(name string) { collapsed = append(collapsed, name) })
	for i := range metrics.MaxLabelValues + 50 {
		if err := m.Inc("s", "hits", map[string]string{"user": strings.Repeat("u", i%200+1)}, 1); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(m.ServeMux(nil))
	defer srv.Close()
	got := scrape(t, srv.URL+"/metrics")
	n := 0
	for series := range got {
		if strings.HasPrefix(series, "scriptrunner_script_hits_total{") {
			n++
		}
	}
	if n != metrics.MaxLabelValues+1 {
		t.Errorf("got %d series, want %d plus one \"other\"", n, metrics.MaxLabelValues)
	}
	if v := got[`scriptrunner_script_hits_total{script="s",user="other"}`]; v != "50" {
		t.Errorf("other: got %q, want 50", v)
	}
	if len(collapsed) != 1 {
		t.Errorf("collapse reported %d times, want once", len(collapsed))
	}
	if err := m.Set("s", "hits_total", nil, 1); err == nil {
		t.Error("reusing a counter name as a gauge: got no error")
	}
	if err := m.Inc("s", "bad-name", nil, 1); err == nil {
		t.Error("invalid metric name: got no error")
	}
	if err := m.Inc("s", "c", nil, -1); err == nil {
		t.Error("negative increment: got no error")
	}
}

// TestResponsePhaseCounted: handlers of the response phase are counted
// like those of the request phase.
func TestResponsePhaseCounted(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	h := runnertest.StartWith(t, map[string][]byte{"r.star": []byte(`
def on_response(resp, conf):
    if resp.status == 500:
        return respond(503, body = "down")
    resp.headers.set("x-seen", "1")
`)}, engine.Config{Observer: m}, runner.Config{Observer: m})
	srv := httptest.NewServer(m.ServeMux(nil))
	defer srv.Close()
	conn := h.Server.Dial(t)
	token, err := conn.Prepare("k", protocoltest.KV{Name: "r", Value: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []int{200, 200, 500} {
		if _, _, err := conn.RespCall(protocoltest.RespCall{ID: 1, ConfToken: token, Status: status}, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := scrape(t, srv.URL+"/metrics")
	for series, v := range map[string]string{
		`scriptrunner_calls_total{outcome="continue",phase="response",script="r"}`: "2",
		`scriptrunner_calls_total{outcome="stop",phase="response",script="r"}`:     "1",
		`scriptrunner_call_duration_seconds_count{phase="response"}`:               "3",
	} {
		if got[series] != v {
			t.Errorf("%s: got %q, want %q", series, got[series], v)
		}
	}
}
