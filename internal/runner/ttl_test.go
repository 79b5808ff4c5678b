package runner_test

import (
	"errors"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/protocol"
)

// TestConfTTL drives the conf cache's expiry with a mocked clock and
// explicit sweeps: a conf lives at least ConfTTL after its last use and
// is gone by the first sweep after ConfTTL + one sweep interval. Calls
// come each on a new connection, or all on one, which keeps the entry it
// looked up last: a dropped entry must not live on there.
func TestConfTTL(t *testing.T) {
	t.Run("new connections", func(t *testing.T) { testConfTTL(t, false) })
	t.Run("one connection", func(t *testing.T) { testConfTTL(t, true) })
}

func testConfTTL(t *testing.T, oneConn bool) {
	const ttl = time.Hour
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := runner.New(engine.New(engine.Config{Dir: "../../scripts"}, nil), runner.Config{
		ConfTTL:       ttl,
		SweepInterval: 24 * time.Hour, // the test sweeps by hand
		Now:           func() time.Time { return now },
	}, nil)
	t.Cleanup(r.Close)

	prepare := func() uint32 {
		t.Helper()
		token, err := r.PrepareConf(&protocol.PrepareConfRequest{
			Conf: []protocol.Entry{{Name: []byte("bench_filter"), Value: []byte(benchConf), HasValue: true}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	var conn protocol.Call
	call := func(token uint32) error {
		t.Helper()
		var in protocol.HTTPReqCallRequest
		if err := in.Decode(benchPayload(t, token, false)); err != nil {
			t.Fatal(err)
		}
		var reply protocol.ReqCallReply
		if !oneConn {
			conn = protocol.Call{}
		}
		return r.HTTPReqCall(&conn, &in, &reply)
	}
	sweep := func(at time.Duration, wantDropped, wantLeft int) {
		t.Helper()
		now = now.Add(at)
		if got := r.Sweep(); got != wantDropped {
			t.Errorf("sweep +%v dropped %d confs, want %d", at, got, wantDropped)
		}
		if got := r.Confs(); got != wantLeft {
			t.Errorf("after sweep +%v: %d confs cached, want %d", at, got, wantLeft)
		}
	}

	idle := prepare()   // never used: lives ConfTTL from preparation
	active := prepare() // used now and then
	if err := call(active); err != nil {
		t.Fatal(err)
	}
	sweep(30*time.Minute, 0, 2) // active is stamped at +30m
	sweep(30*time.Minute, 0, 2) // idle is exactly ttl old: kept
	sweep(time.Minute, 1, 1)    // +61m: idle dropped; active last seen at +30m
	if err := call(idle); !errors.Is(err, protocol.ErrConfTokenNotFound) {
		t.Fatalf("call with the dropped token: err = %v, want ErrConfTokenNotFound", err)
	}
	if err := call(active); err != nil { // used again at +61m
		t.Fatalf("call with the live token: %v", err)
	}
	sweep(58*time.Minute, 0, 1) // +119m: stamped
	sweep(time.Hour, 0, 1)      // +179m: exactly ttl since the stamp
	sweep(time.Second, 1, 0)    // past it: dropped
	if err := call(active); !errors.Is(err, protocol.ErrConfTokenNotFound) {
		t.Fatalf("call after expiry: err = %v, want ErrConfTokenNotFound", err)
	}
}
