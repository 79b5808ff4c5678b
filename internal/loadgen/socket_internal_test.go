package loadgen

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/internal/loadgen/floor"
)

func TestConfKey(t *testing.T) {
	a := confKey([]Conf{{Name: "bench_filter", Value: "{}"}})
	b := confKey([]Conf{{Name: "bench_var", Value: "{}"}})
	c := confKey([]Conf{{Name: "bench_filter", Value: "{}"}})
	if a == b || a != c {
		t.Errorf("got keys %q, %q, %q; want distinct keys for distinct confs, equal for equal", a, b, c)
	}
}

// TestCallAllocs guards the claim of docs/bench.md that the load
// generator's hot loop does not allocate: one exchange with the floor
// runner, ExtraInfo-free, plus recording its latency.
func TestCallAllocs(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("allocation counts need a full, non-race run")
	}
	path := filepath.Join(t.TempDir(), "f.sock")
	if len(path) > 100 {
		t.Skip("temporary directory too deep for a socket path")
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &floor.Server{}
	go srv.Serve(ln)
	defer srv.Close()
	confs := []Conf{{Name: "bench_filter", Value: `{"header":"X-Api-Key","key":"secret"}`}}
	o := Options{Socket: path, Duration: time.Minute, Confs: confs, Request: Request(confs, false)}.withDefaults()
	w := &worker{o: &o}
	if err := w.connect(); err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.call(); err != nil {
		t.Fatal(err)
	}
	got := testing.AllocsPerRun(500, func() {
		t0 := time.Now()
		if err := w.call(); err != nil {
			t.Fatal(err)
		}
		w.hist.Record(time.Since(t0))
	})
	if got != 0 {
		t.Errorf("got %v allocations per call, want 0", got)
	}
}
