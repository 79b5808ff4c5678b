package metrics_test

import (
	"net/http/httptest"
	"testing"

	"github.com/scriptrunner/scriptrunner/internal/metrics"
)

// TestStoreErrors: the shared store's failures are counted by op.
func TestStoreErrors(t *testing.T) {
	m := metrics.New(metrics.Sources{})
	m.ObserveStoreError("allow")
	m.ObserveStoreError("allow")
	m.ObserveStoreError("get")
	srv := httptest.NewServer(m.ServeMux(nil))
	defer srv.Close()
	got := scrape(t, srv.URL+"/metrics")
	for series, want := range map[string]string{
		`scriptrunner_store_errors_total{op="allow"}`: "2",
		`scriptrunner_store_errors_total{op="get"}`:   "1",
	} {
		if got[series] != want {
			t.Errorf("%s: got %q, want %q", series, got[series], want)
		}
	}
}
