package floor_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/internal/loadgen/floor"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

func startFloor(t *testing.T) string {
	t.Helper()
	return startFloorWith(t, &floor.Server{})
}

func startFloorWith(t *testing.T, srv *floor.Server) string {
	t.Helper()
	path := protocoltest.SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, floor.ErrClosed) {
			t.Errorf("Serve: got %v, want %v", err, floor.ErrClosed)
		}
	})
	return path
}

// TestFloorExchange runs one PrepareConf and two calls over a real socket.
func TestFloorExchange(t *testing.T) {
	c := protocoltest.Dial(t, startFloor(t))
	token, err := c.Prepare("route#1#ext-plugin-pre-req#1", protocoltest.KVs("bench_filter", `{}`)...)
	if err != nil || token == 0 {
		t.Fatalf("Prepare: got token %d, err %v; want a non-zero token", token, err)
	}
	for _, id := range []uint32{0, 4194311} {
		r, qs, err := c.Call(protocoltest.ReqCall{ID: id, ConfToken: token, Path: "/", Headers: protocoltest.KVs("x-api-key", "secret")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Type != protocol.TypeHTTPReqCall || r.ID != id || r.Action != "rewrite" || len(qs) != 0 {
			t.Errorf("id %d: got %s %+v (questions %v), want an empty rewrite echoing the id", id, r.Type, r, qs)
		}
		if r.Rewrite != nil && (r.Rewrite.Path != nil || len(r.Rewrite.Headers) != 0) {
			t.Errorf("id %d: got rewrite %+v, want it empty", id, r.Rewrite)
		}
	}
	r, _, err := c.RespCall(protocoltest.RespCall{ID: 5, ConfToken: token, Status: 200}, nil)
	if err != nil || r.Type != protocol.TypeHTTPRespCall || r.ID != 5 {
		t.Errorf("RespCall: got %s %+v, %v; want an answer with id 5", r.Type, r, err)
	}
}

func TestFloorBadFrame(t *testing.T) {
	c := protocoltest.Dial(t, startFloor(t))
	if err := c.WriteFrame(protocol.TypeExtraInfo, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	r, err := c.ReadReply()
	if err != nil || r.Err == nil || *r.Err != protocol.CodeBadRequest {
		t.Fatalf("got %+v, %v; want RPC_ERROR BAD_REQUEST", r, err)
	}
	if _, _, err := c.ReadFrame(); err == nil {
		t.Error("connection still open after the error, want it closed")
	}
}

func TestID(t *testing.T) {
	withID, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: 77, Path: "/"})
	noID, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{Path: "/"})
	tests := []struct {
		name    string
		payload []byte
		id      uint32
		ok      bool
	}{
		{name: "id", payload: withID, id: 77, ok: true},
		{name: "absent", payload: noID, id: 0, ok: true},
		{name: "short", payload: []byte{1, 2}, ok: false},
		{name: "root out of range", payload: []byte{200, 0, 0, 0, 0, 0, 0, 0}, ok: false},
		{name: "vtable out of range", payload: []byte{4, 0, 0, 0, 0, 0, 0, 128}, ok: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := floor.ID(tc.payload)
			if id != tc.id || ok != tc.ok {
				t.Errorf("got %d, %v; want %d, %v", id, ok, tc.id, tc.ok)
			}
		})
	}
}

// TestFloorWork checks that a calibration floor spends at least Work on
// each call before it answers.
func TestFloorWork(t *testing.T) {
	const work = 20 * time.Millisecond
	c := protocoltest.Dial(t, startFloorWith(t, &floor.Server{Work: work}))
	token, err := c.Prepare("k", protocoltest.KVs("bench_filter", `{}`)...)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, _, err := c.Call(protocoltest.ReqCall{ID: 7, ConfToken: token, Path: "/"}, nil)
	if err != nil || r.ID != 7 {
		t.Fatalf("Call: %+v, %v", r, err)
	}
	if d := time.Since(start); d < work {
		t.Errorf("call answered after %v, want at least the %v of work", d, work)
	}
}
