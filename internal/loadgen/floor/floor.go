// Package floor is a benchmark-only runner that does the least any runner
// must: read each frame into a reused buffer and answer it. A PrepareConf
// gets a token, an HTTPReqCall an empty Rewrite echoing its id, an
// HTTPRespCall an empty answer, built with one reused encoder per
// connection. It does its socket I/O as protocol.Server does (a call's
// answer is written by a protocol.Replier, which then waits for the next
// request). It reads no conf, runs nothing and asks for no ExtraInfo, so
// its throughput is the floor set by the socket, the scheduler and the
// frame codec; scriptrunner is measured against it (docs/bench.md).
//
// It is not a runner for APISIX: it checks nothing.
package floor

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/scriptrunner/scriptrunner/protocol"
)

// Server serves the floor protocol. Its methods are safe for concurrent
// use.
type Server struct {
	// Work, when set, is CPU time burnt in a busy loop before each
	// HTTPReqCall and HTTPRespCall is answered: a calibration runner that
	// costs exactly that much more per call than the floor
	// (docs/bench.md). Set it before Serve.
	Work time.Duration

	token atomic.Uint32

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("floor: server closed")

// Serve accepts connections on ln until Close, one goroutine each.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.ln = ln
	s.conns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			return err
		}
		if !s.track(nc) {
			nc.Close()
			return ErrClosed
		}
		go s.serve(nc)
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	return true
}

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for nc := range s.conns {
		nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Server) serve(nc net.Conn) {
	defer func() {
		nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	c := conn{enc: protocol.GetEncoder()}
	c.src.R = nc
	c.r = bufio.NewReaderSize(&c.src, 8<<10)
	defer protocol.PutEncoder(c.enc)
	c.rewrite.Action = protocol.ActionRewrite
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.replier = protocol.NewReplier(raw)
		}
	}
	for {
		t, err := protocol.ReadFrame(c.r, &c.in)
		if err != nil {
			return
		}
		call := t == protocol.TypeHTTPReqCall || t == protocol.TypeHTTPRespCall
		if s.Work > 0 && call {
			spin(s.Work)
		}
		out, ok := c.answer(t, s)
		if ok && call && c.replier != nil && c.src.Quiet(c.r) {
			// As protocol.Server answers a call: write and wait for the
			// next request in one RawConn read (protocol.Replier). The
			// load generator never pipelines, so no poker is needed.
			rest, werr, _ := c.replier.Wait(out)
			if werr != nil {
				return
			}
			out = rest
		}
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
		if !ok {
			return
		}
	}
}

// spin keeps the CPU busy for d.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

// conn is one connection's reused state.
type conn struct {
	src     protocol.SocketReader
	replier *protocol.Replier
	r       *bufio.Reader
	in      bytebufferpool.ByteBuffer // the current frame's payload, reused
	enc     *protocol.Encoder
	rewrite protocol.ReqCallReply
	resp    protocol.RespCallReply
}

// answer encodes the reply to the frame in c.in; ok is false when the
// connection must close after it.
func (c *conn) answer(t protocol.Type, s *Server) (frame []byte, ok bool) {
	switch t {
	case protocol.TypePrepareConf:
		return c.enc.PrepareConf(s.token.Add(1)), true
	case protocol.TypeHTTPReqCall:
		if id, ok := ID(c.in.B); ok {
			f, err := c.enc.ReqCall(id, &c.rewrite)
			return f, err == nil
		}
	case protocol.TypeHTTPRespCall:
		if id, ok := ID(c.in.B); ok {
			f, err := c.enc.RespCall(id, &c.resp)
			return f, err == nil
		}
	}
	return c.enc.Error(protocol.CodeBadRequest), false
}

// ID reads field 0 (the uint32 id) of the root table of a FlatBuffers
// payload, as HTTPReqCall.Req and HTTPRespCall.Req carry it, without
// decoding anything else. An absent id is 0; ok is false when the payload
// is too short for the offsets it declares.
func ID(p []byte) (id uint32, ok bool) {
	if len(p) < 4 {
		return 0, false
	}
	pos := int64(binary.LittleEndian.Uint32(p))
	if pos+4 > int64(len(p)) {
		return 0, false
	}
	vt := pos - int64(int32(binary.LittleEndian.Uint32(p[pos:])))
	if vt < 0 || vt+4 > int64(len(p)) {
		return 0, false
	}
	if binary.LittleEndian.Uint16(p[vt:]) < 6 {
		return 0, true // vtable without field 0
	}
	if vt+6 > int64(len(p)) {
		return 0, false
	}
	off := int64(binary.LittleEndian.Uint16(p[vt+4:]))
	if off == 0 {
		return 0, true
	}
	if pos+off+4 > int64(len(p)) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(p[pos+off:]), true
}
