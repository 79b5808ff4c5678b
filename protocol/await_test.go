package protocol_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// A reply that leaves the connection idle is written by a Replier, which
// waits there for the next request (protocol/await.go). These tests cover
// what could go wrong with that wait: a frame that arrived before it
// began, the poker's deadline, and Shutdown.

// startPoking serves h with the poker ticking every tick.
func startPoking(t *testing.T, tick time.Duration, srv *protocol.Server) *protocoltest.Server {
	t.Helper()
	protocol.SetPokeEvery(srv, tick)
	return protocoltest.Start(t, srv)
}

// TestServerPipelinedFrameAfterReply: a peer that sends its next request
// while the runner is still working on the previous one (APISIX never
// does) and then waits before it reads either answer. The second frame
// arrives while the first call's handler sleeps, so the poller may have
// reported it before the replier's wait began, and nothing else would end
// that wait before the peer reads; the poker must, within a few ticks.
func TestServerPipelinedFrameAfterReply(t *testing.T) {
	const tick, peerWait = 10 * time.Millisecond, 400 * time.Millisecond
	var mu sync.Mutex
	started := map[uint32]time.Time{}
	srv := startPoking(t, tick, &protocol.Server{Handler: &fakeHandler{
		reqCall: func(_ *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			mu.Lock()
			started[req.ID] = time.Now()
			mu.Unlock()
			if req.ID%2 == 1 {
				time.Sleep(30 * time.Millisecond)
			}
			reply.Action, reply.Status = protocol.ActionStop, 200
			return nil
		},
	}})
	c := srv.Dial(t)
	for round := range 3 {
		ids := []uint32{uint32(2*round + 1), uint32(2*round + 2)} // odd: the slow call
		for i, id := range ids {
			payload, err := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: id})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				time.Sleep(5 * time.Millisecond) // the handler has the first frame
			}
		}
		time.Sleep(peerWait)
		for _, id := range ids {
			r, err := c.ReadReply()
			if err != nil || r.ID != id || r.Stop == nil {
				t.Fatalf("round %d: got %+v, %v; want the stop for id %d", round, r, err, id)
			}
		}
		mu.Lock()
		gap := started[ids[1]].Sub(started[ids[0]])
		mu.Unlock()
		if gap > peerWait/2 {
			t.Errorf("round %d: the second frame was served %v after the first, want it within a few %v ticks of the first call's 30ms", round, gap, tick)
		}
	}
}

// TestServerPokedConnKeepsServing: connections that pause between calls
// are poked out of their wait, often, while other calls run; none of them
// sees the poker's deadline as an error, and every reply arrives.
func TestServerPokedConnKeepsServing(t *testing.T) {
	p := &protocol.Server{Handler: &fakeHandler{}}
	srv := startPoking(t, time.Millisecond, p)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		c := srv.Dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := uint32(g*1000 + i)
				r, _, err := c.Call(protocoltest.ReqCall{ID: id}, nil)
				if err != nil || r.ID != id {
					errs <- fmt.Errorf("conn %d call %d: got id %d, %v", g, i, r.ID, err)
					return
				}
				if i%20 == 0 {
					time.Sleep(3 * time.Millisecond) // long enough to be poked
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if protocol.Pokes(p) == 0 {
		t.Error("the poker never ended a wait; the test did not cover it")
	}
}

// TestServerShutdownAfterReply: a connection idle in its replier's wait is
// idle for Shutdown too: it gets DrainGrace to deliver a request already
// on its way, which is answered, and is then closed.
func TestServerShutdownAfterReply(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "request in grace"}[late], func(t *testing.T) {
			srv := startPoking(t, time.Hour, &protocol.Server{DrainGrace: 300 * time.Millisecond, Handler: &fakeHandler{}})
			c := srv.Dial(t)
			if r, _, err := c.Call(protocoltest.ReqCall{ID: 1}, nil); err != nil || r.ID != 1 {
				t.Fatalf("call: %+v, %v", r, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			shutdown := make(chan error, 1)
			go func() { shutdown <- srv.Shutdown(ctx) }()
			if late {
				time.Sleep(50 * time.Millisecond) // Shutdown has begun
				if r, _, err := c.Call(protocoltest.ReqCall{ID: 2}, nil); err != nil || r.ID != 2 {
					t.Fatalf("call within the grace: %+v, %v", r, err)
				}
			}
			if err := <-shutdown; err != nil {
				t.Errorf("Shutdown = %v, want nil (the idle connection closed within its grace)", err)
			}
			expectClosed(t, c)
		})
	}
}

// unixPair returns both ends of a new Unix socket connection.
func unixPair(t *testing.T) (a, b *net.UnixConn) {
	t.Helper()
	ln, err := net.Listen("unix", protocoltest.SocketPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := <-accepted
	if c == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { d.Close(); c.Close() })
	return c.(*net.UnixConn), d.(*net.UnixConn)
}

func newReplier(t *testing.T, c *net.UnixConn) *protocol.Replier {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return protocol.NewReplier(raw)
}

// TestReplier covers each way protocol.Replier.Wait can end.
func TestReplier(t *testing.T) {
	t.Run("next request", func(t *testing.T) {
		srv, peer := unixPair(t)
		r := newReplier(t, srv)
		go func() {
			buf := make([]byte, 5)
			io.ReadFull(peer, buf) // the reply, then the next request
			peer.Write([]byte("next"))
		}()
		rest, werr, err := r.Wait([]byte("reply"))
		if len(rest) != 0 || werr != nil || err != nil {
			t.Fatalf("Wait = %q, %v, %v; want the wait to end with the next request", rest, werr, err)
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(srv, buf); err != nil || string(buf) != "next" {
			t.Errorf("read after Wait: %q, %v", buf, err)
		}
	})
	t.Run("send buffer full", func(t *testing.T) {
		srv, _ := unixPair(t) // the peer never reads
		r := newReplier(t, srv)
		frame := make([]byte, 16<<20)
		rest, werr, err := r.Wait(frame)
		if len(rest) == 0 || len(rest) == len(frame) || werr != nil || err != nil {
			t.Errorf("Wait wrote %d of %d bytes, write error %v, wait error %v; want a partial write and no error",
				len(frame)-len(rest), len(frame), werr, err)
		}
	})
	t.Run("peer gone", func(t *testing.T) {
		srv, peer := unixPair(t)
		peer.Close()
		r := newReplier(t, srv)
		var werr error
		for range 10 { // the first write after the close may still succeed
			if _, werr, _ = r.Wait([]byte("reply")); werr != nil {
				break
			}
		}
		if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
			t.Errorf("write error %v, want EPIPE or ECONNRESET", werr)
		}
	})
	t.Run("deadline passed", func(t *testing.T) {
		srv, _ := unixPair(t)
		srv.SetReadDeadline(time.Unix(1, 0))
		r := newReplier(t, srv)
		rest, werr, err := r.Wait([]byte("reply"))
		if string(rest) != "reply" || werr != nil || err != nil {
			t.Errorf("Wait = %q, %v, %v; want the whole frame back unwritten, no error", rest, werr, err)
		}
	})
	t.Run("deadline during the wait", func(t *testing.T) {
		srv, _ := unixPair(t)
		r := newReplier(t, srv)
		time.AfterFunc(20*time.Millisecond, func() { srv.SetReadDeadline(time.Unix(1, 0)) })
		rest, werr, err := r.Wait([]byte("reply"))
		if len(rest) != 0 || werr != nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Wait = %q, %v, %v; want the reply written and the wait ended by the deadline", rest, werr, err)
		}
	})
}

// TestSocketReaderQuiet: a read that fills the buffer may have left data
// in the socket; a shorter one took all there was, and then the peer's
// bytes are quiet once the bufio.Reader above has handed them all out.
func TestSocketReaderQuiet(t *testing.T) {
	srv, peer := unixPair(t)
	sr := &protocol.SocketReader{R: srv}
	r := bufio.NewReaderSize(sr, 16)
	peer.Write([]byte("0123456789abcdefXYZ")) // 19 bytes: more than r's buffer
	buf := make([]byte, 16)
	if _, err := io.ReadFull(r, buf); err != nil || sr.Quiet(r) {
		t.Fatalf("read 16 of 19 bytes, the read below filled r's buffer: err %v, quiet %v; want not quiet", err, sr.Quiet(r))
	}
	if _, err := io.ReadFull(r, buf[:1]); err != nil || sr.Quiet(r) {
		t.Fatalf("read 1 of the last 3 bytes: err %v, quiet %v; want not quiet (2 buffered)", err, sr.Quiet(r))
	}
	if _, err := io.ReadFull(r, buf[:2]); err != nil || !sr.Quiet(r) {
		t.Errorf("read the last 2 bytes, the read below was short: err %v, quiet %v; want quiet", err, sr.Quiet(r))
	}
}
