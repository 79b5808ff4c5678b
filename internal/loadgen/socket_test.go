package loadgen_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/loadgen"
	"github.com/scriptrunner/scriptrunner/internal/loadgen/floor"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

var benchConf = []loadgen.Conf{{Name: "bench_filter", Value: `{"header":"X-Api-Key","key":"secret"}`}}

func startFloor(t *testing.T) string {
	t.Helper()
	path := protocoltest.SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &floor.Server{}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path
}

func TestRunFloor(t *testing.T) {
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Label: "floor", Socket: startFloor(t), Conns: 2, Duration: 200 * time.Millisecond,
		Warmup: 50 * time.Millisecond, Confs: benchConf, Request: loadgen.Request(benchConf, false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls == 0 || res.Errors != 0 || res.Reply != "rewrite" {
		t.Fatalf("got %+v, want calls > 0, no errors, reply rewrite", res)
	}
	if res.ClientCPUUS <= 0 || res.ServerCPUUS < 0 {
		t.Errorf("got CPU per call %v (runner) %v (generator), want them measured", res.ServerCPUUS, res.ClientCPUUS)
	}
	if res.P50US <= 0 || res.P50US > res.P99US || res.P99US > res.MaxUS || res.CallsPerSec <= 0 {
		t.Errorf("got p50 %v p99 %v max %v calls/s %v, want 0 < p50 ≤ p99 ≤ max", res.P50US, res.P99US, res.MaxUS, res.CallsPerSec)
	}
}

// TestRunRunner drives the real runner with bench_filter, on the allow and
// deny paths, and a script that asks for one var per call.
func TestRunRunner(t *testing.T) {
	scripts := runnertest.Bundled(t, "../../scripts")
	h := runnertest.Start(t, scripts, engine.Config{})
	varConf := []loadgen.Conf{{Name: "bench_var", Value: benchConf[0].Value}}
	tests := []struct {
		name  string
		confs []loadgen.Conf
		deny  bool
		reply string
		extra bool
	}{
		{name: "allow", confs: benchConf, reply: "rewrite X-User: alice"},
		{name: "deny", confs: benchConf, deny: true, reply: `stop 403 "forbidden"`},
		{name: "var", confs: varConf, reply: "rewrite X-User: alice", extra: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := loadgen.Run(context.Background(), loadgen.Options{
				Socket: h.Server.Path, Conns: 2, Duration: 200 * time.Millisecond,
				Confs: tc.confs, Request: loadgen.Request(tc.confs, tc.deny),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Calls == 0 || res.Errors != 0 || res.Reply != tc.reply {
				t.Fatalf("got %+v, want calls > 0, no errors, reply %s", res, tc.reply)
			}
			if got := res.ExtraInfo == res.Calls || res.ExtraInfo == res.Calls+1; tc.extra != (res.ExtraInfo > 0) || tc.extra && !got {
				t.Errorf("got %d ExtraInfo answers for %d calls, want one per call: %v", res.ExtraInfo, res.Calls, tc.extra)
			}
		})
	}
}

// errHandler answers every third call with CONF_TOKEN_NOT_FOUND.
type errHandler struct{ n atomic.Int64 }

func (h *errHandler) PrepareConf(*protocol.PrepareConfRequest) (uint32, error) { return 1, nil }
func (h *errHandler) HTTPReqCall(_ *protocol.Call, _ *protocol.HTTPReqCallRequest, _ *protocol.ReqCallReply) error {
	if h.n.Add(1)%3 == 0 {
		return protocol.ErrConfTokenNotFound
	}
	return nil
}
func (h *errHandler) HTTPRespCall(*protocol.Call, *protocol.HTTPRespCallRequest, *protocol.RespCallReply) error {
	return nil
}

// TestRunErrors checks that failed calls are counted and that the
// connection is reopened after each, as APISIX does.
func TestRunErrors(t *testing.T) {
	srv := protocoltest.NewServer(t, &errHandler{})
	res, err := loadgen.Run(context.Background(), loadgen.Options{
		Socket: srv.Path, Duration: 100 * time.Millisecond, Confs: benchConf, Request: loadgen.Request(benchConf, false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Calls == 0 || res.Errors == 0 || !strings.Contains(res.FirstError, "CONF_TOKEN_NOT_FOUND") {
		t.Errorf("got %+v, want calls and errors, first error CONF_TOKEN_NOT_FOUND", res)
	}
}

// TestRunPrepareFails checks that a conf the runner rejects fails the run
// at once.
func TestRunPrepareFails(t *testing.T) {
	h := runnertest.Start(t, runnertest.Bundled(t, "../../scripts"), engine.Config{})
	_, err := loadgen.Run(context.Background(), loadgen.Options{
		Socket: h.Server.Path, Duration: 100 * time.Millisecond,
		Confs: []loadgen.Conf{{Name: "no_such_script", Value: "{}"}}, Request: loadgen.Request(nil, false),
	})
	if err == nil || !strings.Contains(err.Error(), "BAD_REQUEST") {
		t.Fatalf("got %v, want the PrepareConf error BAD_REQUEST", err)
	}
}

func TestRunNoRunner(t *testing.T) {
	_, err := loadgen.Run(context.Background(), loadgen.Options{Socket: "/nonexistent/s.sock", Duration: time.Millisecond})
	var op *net.OpError
	if !errors.As(err, &op) {
		t.Errorf("got %v, want a dial error", err)
	}
}

func TestSweepOrder(t *testing.T) {
	a, b := startFloor(t), startFloor(t)
	var got []string
	_, err := loadgen.Sweep(context.Background(), loadgen.Options{Duration: 20 * time.Millisecond, Confs: benchConf},
		[]loadgen.Target{{Label: "a", Socket: a}, {Label: "b", Socket: b}}, []int{1, 2}, 2,
		func(r loadgen.Result) { got = append(got, r.Label+string(rune('0'+r.Conns))+string(rune('0'+r.Round))) })
	if err != nil {
		t.Fatal(err)
	}
	want := "a11 b11 a21 b21 a12 b12 a22 b22"
	if strings.Join(got, " ") != want {
		t.Errorf("got order %v, want %s", got, want)
	}
}

func TestParse(t *testing.T) {
	if got, err := loadgen.ParseConns("1, 4,16,64"); err != nil || len(got) != 4 || got[3] != 64 {
		t.Errorf("ParseConns: got %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "1,x", "5000"} {
		if _, err := loadgen.ParseConns(bad); err == nil {
			t.Errorf("ParseConns(%q): got no error", bad)
		}
	}
	if got := loadgen.ParseTarget("floor=/tmp/f.sock"); got.Label != "floor" || got.Socket != "/tmp/f.sock" {
		t.Errorf("ParseTarget: got %+v", got)
	}
	if got := loadgen.ParseTarget("/tmp/f.sock"); got.Socket != "/tmp/f.sock" {
		t.Errorf("ParseTarget: got %+v", got)
	}
	if _, err := loadgen.ParseConf("nojson"); err == nil {
		t.Error("ParseConf(nojson): got no error")
	}
	r := loadgen.Request(benchConf, true)
	if len(r.Headers) != 10 || len(r.Args) != 3 || r.Headers[7].Name != "x-api-key" || r.Headers[7].Value != "secret-wrong" {
		t.Errorf("Request(deny): got headers %v args %v", r.Headers, r.Args)
	}
}
