package runner_test

import (
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// The hostile-peer suite: a fake APISIX that misbehaves in every way the
// protocol allows, against the real runner over a real Unix socket. Each
// misbehaviour may cost its own connection (an RPC_ERROR answer or a
// close), never another connection, the process or a goroutine.

var peerScripts = map[string][]byte{
	"echo.star": []byte(`
def on_request(req, conf):
    req.headers.set("x-echo", req.path)
`),
	"asks.star": []byte(`
def on_request(req, conf):
    req.headers.set("x-route", req.var("route_id", "none"))
`),
	"big.star": []byte(`
def on_request(req, conf):
    req.set_body("x" * (1 << 20))
`),
}

type peerRig struct {
	h     *runnertest.Harness
	token uint32 // echo
	asks  uint32
	big   uint32
}

func newPeerRig(t *testing.T) *peerRig {
	t.Helper()
	h := runnertest.Start(t, peerScripts, engine.Config{})
	g := &peerRig{h: h}
	var err error
	c := h.Server.Dial(t)
	for name, tok := range map[string]*uint32{"echo": &g.token, "asks": &g.asks, "big": &g.big} {
		if *tok, err = c.Prepare("route#"+name, protocoltest.KV{Name: name, Value: `{}`}); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// works checks that a valid call on conn is answered as it should be.
func (g *peerRig) works(t *testing.T, c *protocoltest.Conn, id uint32) {
	t.Helper()
	r, _, err := c.Call(protocoltest.ReqCall{ID: id, ConfToken: g.token, Path: "/ok"}, nil)
	if err != nil || r.ID != id || r.Rewrite == nil || len(r.Rewrite.Headers) != 1 || r.Rewrite.Headers[0].Value != "/ok" {
		t.Fatalf("valid call %d: got %+v, %v", id, r, err)
	}
}

// freshWorks checks that a new connection is served.
func (g *peerRig) freshWorks(t *testing.T) {
	t.Helper()
	g.works(t, g.h.Server.Dial(t), 9999)
}

// expectError reads one reply and checks it is RPC_ERROR code.
func expectError(t *testing.T, c *protocoltest.Conn, code protocol.Code) {
	t.Helper()
	r, err := c.ReadReply()
	if err != nil || r.Type != protocol.TypeError || r.Err == nil || *r.Err != code {
		t.Fatalf("got %+v, %v; want RPC_ERROR %s", r, err, code)
	}
}

// expectClosed checks that the runner closed c without answering.
func expectClosed(t *testing.T, c *protocoltest.Conn) {
	t.Helper()
	c.Timeout = 5 * time.Second
	if typ, _, err := c.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("got a %s frame, error %v; want the connection closed", typ, err)
	}
}

func golden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "frames", name))
	if err != nil {
		t.Fatal(err)
	}
	return b[protocol.HeaderSize:]
}

func TestHostilePeer(t *testing.T) {
	noLeaks(t)
	g := newPeerRig(t)

	t.Run("unknown frame type", func(t *testing.T) {
		c := g.h.Server.Dial(t)
		for _, typ := range []protocol.Type{5, 9, 0x7f, 0xff} {
			if err := c.WriteFrame(typ, []byte("payload")); err != nil {
				t.Fatal(err)
			}
			expectError(t, c, protocol.CodeBadRequest)
		}
		g.works(t, c, 1) // the connection itself survives
		g.freshWorks(t)
	})

	t.Run("RPC_ERROR and ExtraInfo frames sent unsolicited", func(t *testing.T) {
		c := g.h.Server.Dial(t)
		if err := c.WriteFrame(protocol.TypeExtraInfo, protocoltest.EncodeExtraInfo([]byte("x"), true)); err != nil {
			t.Fatal(err)
		}
		expectError(t, c, protocol.CodeBadRequest)
		if err := c.WriteFrame(protocol.TypeError, golden(t, "error_conf_token_not_found.bin")); err != nil {
			t.Fatal(err)
		}
		expectError(t, c, protocol.CodeBadRequest)
		g.works(t, c, 2)
	})

	t.Run("length-0 frame", func(t *testing.T) {
		c := g.h.Server.Dial(t)
		for _, typ := range []protocol.Type{protocol.TypePrepareConf, protocol.TypeHTTPReqCall, protocol.TypeHTTPRespCall, protocol.TypeExtraInfo} {
			if err := c.WriteRaw([]byte{byte(typ), 0, 0, 0}); err != nil {
				t.Fatal(err)
			}
			expectError(t, c, protocol.CodeBadRequest)
		}
		g.works(t, c, 3)
	})

	t.Run("truncated payload then close", func(t *testing.T) {
		payload, err := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: 4, ConfToken: g.token, Path: "/"})
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{1, 3, protocol.HeaderSize, protocol.HeaderSize + 1, protocol.HeaderSize + len(payload) - 1} {
			c := g.h.Server.Dial(t)
			frame := append([]byte{byte(protocol.TypeHTTPReqCall), 0, 0, byte(len(payload))}, payload...)
			if err := c.WriteRaw(frame[:cut]); err != nil {
				t.Fatal(err)
			}
			c.Close()
		}
		g.freshWorks(t)
	})

	t.Run("declared length larger than sent then close", func(t *testing.T) {
		bounded(t, 64<<20, func() {
			for _, typ := range []protocol.Type{protocol.TypePrepareConf, protocol.TypeHTTPReqCall, protocol.TypeHTTPRespCall} {
				c := g.h.Server.Dial(t)
				// 16 MiB - 1 declared, 1 KiB sent: the runner must not
				// reserve the declared size.
				if err := c.WriteRaw(append([]byte{byte(typ), 0xff, 0xff, 0xff}, make([]byte, 1024)...)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond)
				c.Close()
			}
		})
		g.freshWorks(t)
	})

	t.Run("random bytes as FlatBuffers", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		c := g.h.Server.Dial(t)
		bounded(t, 128<<20, func() {
			for i := range 400 {
				typ := []protocol.Type{protocol.TypePrepareConf, protocol.TypeHTTPReqCall, protocol.TypeHTTPRespCall}[i%3]
				payload := make([]byte, 4+rng.IntN(512))
				for j := range payload {
					payload[j] = byte(rng.Uint32())
				}
				if i%2 == 1 {
					// a plausible root offset makes the decoder go deeper
					binary.LittleEndian.PutUint32(payload, uint32(rng.IntN(len(payload))))
				}
				if err := c.WriteFrame(typ, payload); err != nil {
					t.Fatal(err)
				}
				r, err := c.ReadReply()
				if err != nil {
					// A recovered panic answers and closes; nothing else may.
					t.Fatalf("payload %d (%s, % x): %v", i, typ, payload, err)
				}
				if r.Type != protocol.TypeError && r.Type != typ {
					t.Fatalf("payload %d: got a %s reply to %s", i, r.Type, typ)
				}
			}
		})
		g.works(t, c, 5)
	})

	t.Run("vectors and offsets claiming huge lengths", func(t *testing.T) {
		c := g.h.Server.Dial(t)
		bounded(t, 64<<20, func() {
			for _, f := range []struct {
				typ  protocol.Type
				file string
			}{
				{protocol.TypePrepareConf, "prepare_conf_req.bin"},
				{protocol.TypeHTTPReqCall, "http_req_call_req.bin"},
				{protocol.TypeHTTPRespCall, "http_resp_call_req.bin"},
			} {
				base := golden(t, f.file)
				for off := 0; off+4 <= len(base); off += 4 {
					for _, v := range []uint32{0x7fffffff, 0xffffffff, uint32(len(base))} {
						p := append([]byte(nil), base...)
						binary.LittleEndian.PutUint32(p[off:], v)
						if err := c.WriteFrame(f.typ, p); err != nil {
							t.Fatal(err)
						}
						r, err := c.ReadReply()
						if err != nil {
							t.Fatalf("%s with %#x at %d: %v", f.file, v, off, err)
						}
						if r.Type != protocol.TypeError && r.Type != f.typ {
							t.Fatalf("%s with %#x at %d: got a %s reply", f.file, v, off, r.Type)
						}
					}
				}
			}
		})
		g.works(t, c, 6)
	})

	t.Run("interleaved garbage between valid calls", func(t *testing.T) {
		good := g.h.Server.Dial(t)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range 50 {
			g.works(t, good, uint32(100+i))
			bad := g.h.Server.Dial(t)
			garbage := make([]byte, 1+rng.IntN(64))
			for j := range garbage {
				garbage[j] = byte(rng.Uint32())
			}
			bad.WriteRaw(garbage)
			if i%2 == 0 {
				bad.Close()
			}
		}
		// and on the same connection: an unknown frame between two calls
		g.works(t, good, 200)
		if err := good.WriteFrame(protocol.Type(42), []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		expectError(t, good, protocol.CodeBadRequest)
		g.works(t, good, 201)
	})

	t.Run("ExtraInfo answered with the wrong frame", func(t *testing.T) {
		c := g.h.Server.Dial(t)
		payload, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: 7, ConfToken: g.asks, Path: "/"})
		if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
			t.Fatal(err)
		}
		if r, err := c.ReadReply(); err != nil || r.Type != protocol.TypeExtraInfo {
			t.Fatalf("got %+v, %v; want an ExtraInfo question", r, err)
		}
		if err := c.WriteFrame(protocol.TypePrepareConf, golden(t, "prepare_conf_req.bin")); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
		g.freshWorks(t)
	})

	t.Run("ExtraInfo answered with garbage", func(t *testing.T) {
		c := g.h.Server.Dial(t)
		payload, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: 8, ConfToken: g.asks, Path: "/"})
		if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadReply(); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFrame(protocol.TypeExtraInfo, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4}); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
		g.freshWorks(t)
	})

	t.Run("peer closes while the runner waits for ExtraInfo", func(t *testing.T) {
		c := g.h.Server.Dial(t)
		payload, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: 9, ConfToken: g.asks, Path: "/"})
		if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadReply(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		g.freshWorks(t)
	})

	t.Run("replies never read", func(t *testing.T) {
		stuck := g.h.Server.Dial(t)
		payload, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: 10, ConfToken: g.big, Path: "/"})
		// 16 calls of 1 MiB replies: far more than the socket buffers,
		// so the runner's write blocks on this connection.
		for range 16 {
			if err := stuck.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(50 * time.Millisecond)
		for i := range 5 {
			g.works(t, g.h.Server.Dial(t), uint32(300+i))
		}
		stuck.Close() // unblocks the write; the connection's goroutine ends
	})

	t.Run("many connections dropped mid-frame", func(t *testing.T) {
		for range 100 {
			c := g.h.Server.Dial(t)
			c.WriteRaw([]byte{byte(protocol.TypeHTTPReqCall), 0, 1})
			c.Close()
		}
		g.freshWorks(t)
	})

	// Every misbehaving connection is gone once its peer is: only the
	// rig's prepare connection remains. (noLeaks then checks, after
	// shutdown, that no goroutine outlives the test.)
	deadline := time.Now().Add(5 * time.Second)
	for g.h.Server.OpenConns() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("got %d open connections, want 1", g.h.Server.OpenConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
