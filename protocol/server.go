package protocol

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/bytebufferpool"
	"go.uber.org/zap"
)

// Handler answers the RPCs of one connection. Methods are called from the
// connection's goroutine, one call at a time per connection, and from many
// connections concurrently.
//
// The request values and the Call are valid only during the method call;
// they point into reused buffers. An error of type *Error is answered with
// its code; any other error with SERVICE_UNAVAILABLE.
type Handler interface {
	PrepareConf(req *PrepareConfRequest) (token uint32, err error)
	HTTPReqCall(c *Call, req *HTTPReqCallRequest, reply *ReqCallReply) error
	HTTPRespCall(c *Call, req *HTTPRespCallRequest, reply *RespCallReply) error
}

// Server serves the ext-plugin protocol on stream listeners, one goroutine
// per connection. Set its fields before Serve; do not change them after.
type Server struct {
	Handler Handler
	// Logger receives connection-level errors. nil discards them.
	Logger *zap.Logger
	// ExtraInfoTimeout bounds the wait for each ExtraInfo answer.
	// Zero means 60 s, APISIX's own read timeout.
	ExtraInfoTimeout time.Duration
	// DrainGrace is how long Shutdown lets an idle connection deliver a
	// request that is already on its way. Zero means 100 ms.
	DrainGrace time.Duration
	// WriteTimeout bounds a write to a peer that stopped reading; the
	// connection is then closed. Zero means 60 s, APISIX's own send
	// timeout. On a connection with a file descriptor (Unix and TCP
	// sockets) it counts from the moment the write has to wait; on
	// others the deadline is pushed forward at most once a second (or
	// half the timeout, if shorter), so the timeout is at least
	// WriteTimeout minus that.
	WriteTimeout time.Duration

	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	conns      map[*conn]struct{}
	wg         sync.WaitGroup
	inShutdown atomic.Bool
	connCount  atomic.Int64

	// pokeEvery is the poker's tick (pokeInterval unless a test sets
	// it); poking is true while the poker runs. Both under mu.
	pokeEvery time.Duration
	poking    bool
	pokes     atomic.Uint64 // waits the poker ended, for tests
}

// pokeInterval is how often the poker looks for connections that wait for
// a request in a Replier; one that waits through a whole tick is woken to
// read the usual way, in case a frame arrived before its wait began.
const pokeInterval = 100 * time.Millisecond

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("protocol: server closed")

func (s *Server) logger() *zap.Logger {
	if s.Logger == nil {
		return zap.NewNop()
	}
	return s.Logger
}

// OpenConns returns the number of connections being served.
func (s *Server) OpenConns() int { return int(s.connCount.Load()) }

// Serve accepts connections on ln until Shutdown is called or ln fails.
// Temporary accept errors are retried with back-off.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*conn]struct{})
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logger().Warn("accept failed; retrying", zap.Error(err), zap.Duration("delay", delay))
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("protocol: accept: %w", err)
		}
		delay = 0
		c := s.newConn(nc)
		if c == nil {
			nc.Close()
			continue
		}
		go c.serve()
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) newConn(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return nil
	}
	c := &conn{srv: s, nc: nc}
	c.src.R = nc
	c.r = getReader(&c.src)
	c.call.c = c
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.writeFn = c.writeSome
			c.replier = NewReplier(raw)
		}
	}
	if !s.poking && c.replier != nil {
		s.poking = true
		go s.poke()
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.connCount.Add(1)
	return c
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connCount.Add(-1)
	s.wg.Done()
}

func (s *Server) drainGrace() time.Duration {
	if s.DrainGrace > 0 {
		return s.DrainGrace
	}
	return 100 * time.Millisecond
}

// Shutdown stops accepting, lets every call in progress finish, gives idle
// connections DrainGrace to deliver a request already sent, and closes
// them. If ctx ends first, the remaining connections are closed and
// ctx.Err() is returned at once, without waiting for handlers that are
// still running: their replies then fail to write.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.inShutdown.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	deadline := time.Now().Add(s.drainGrace())
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.SetReadDeadline(deadline)
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// conn is the per-connection state. Everything in it is owned by the
// connection's goroutine, except idle, which Shutdown reads, and the wait
// fields, which the poker uses.
type conn struct {
	srv  *Server
	nc   net.Conn
	src  SocketReader  // reads nc; knows whether the socket was drained
	r    *bufio.Reader // every read of src goes through r, ExtraInfo's too
	idle atomic.Bool
	call Call

	// A reply that leaves the connection idle is written by replier,
	// which then waits for the next request (see reply). waits counts
	// those waits and wait says whether one is under way: waiting,
	// running, or poked by the poker, which then holds pokeMu while it
	// sets a past read deadline. pokeSeen is the poker's own: the waits
	// count it saw at its last tick.
	replier  *Replier
	waits    atomic.Uint64
	wait     atomic.Uint32
	pokeMu   sync.Mutex
	pokeSeen uint64
	again    bool // the last reply's wait ended: read the next frame even in shutdown

	in        *bytebufferpool.ByteBuffer // request frame buffer, reused
	enc       *Encoder                   // reply encoder, reused
	prep      PrepareConfRequest
	reqCall   HTTPReqCallRequest
	respCall  HTTPRespCallRequest
	reqReply  ReqCallReply
	respReply RespCallReply

	// Writes through raw, when nc has one, set a write deadline only
	// once a write would block; see write.
	raw     syscall.RawConn
	writeFn func(fd uintptr) bool // c.writeSome, bound once
	pending []byte                // the part of the frame writeSome has yet to write
	werr    error                 // writeSome's error
	armed   bool                  // writeSome set a write deadline

	writeDeadline time.Time // last write deadline set on nc (writes without raw)
}

// errClose ends the connection after the current frame.
var errClose = errors.New("close connection")

func (c *conn) serve() {
	defer c.srv.removeConn(c)
	defer putReader(c.r)
	defer c.nc.Close()
	c.in, c.enc = bytebufferpool.Get(), GetEncoder()
	defer func() {
		putBuffer(c.in)
		PutEncoder(c.enc)
		c.in, c.enc = nil, nil
	}()
	log := c.srv.logger()
	for {
		c.idle.Store(true)
		if c.srv.inShutdown.Load() {
			c.nc.SetReadDeadline(time.Now().Add(c.srv.drainGrace()))
		}
		t, err := ReadFrame(c.r, c.in)
		c.idle.Store(false)
		if err == nil {
			err = c.handle(t)
		} else if errors.Is(err, ErrEmptyFrame) {
			err = c.writeError(CodeBadRequest)
			log.Debug("empty frame; answered BAD_REQUEST", zap.Stringer("type", t))
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
			log.Debug("read frame", zap.Error(err))
		}
		if err != nil || c.srv.inShutdown.Load() && !c.again {
			return
		}
		c.shrink()
	}
}

// keepBuffer is the largest frame buffer or encoder a connection keeps
// between frames; after a bigger frame it starts again from the pool.
const keepBuffer = 64 << 10

// shrink hands buffers grown by a large frame back, so that an idle
// connection holds little memory.
func (c *conn) shrink() {
	if cap(c.in.B) > keepBuffer {
		putBuffer(c.in)
		c.in = bytebufferpool.Get()
	}
	if c.enc.size() > keepBuffer {
		PutEncoder(c.enc)
		c.enc = GetEncoder()
	}
}

// maxPooledBuffer is the largest frame buffer returned to the pool.
const maxPooledBuffer = 1 << 20

// readerSize is the size of a connection's read buffer. A frame that fits
// (an HTTPReqCall with a few dozen headers does) arrives with one read
// system call instead of two, header and payload; larger payloads are
// read straight into the frame buffer.
const readerSize = 8 << 10

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readerSize) }}

func getReader(src io.Reader) *bufio.Reader {
	r := readerPool.Get().(*bufio.Reader)
	r.Reset(src)
	return r
}

func putReader(r *bufio.Reader) {
	r.Reset(nil)
	readerPool.Put(r)
}

func putBuffer(b *bytebufferpool.ByteBuffer) {
	if b != nil && cap(b.B) <= maxPooledBuffer {
		bytebufferpool.Put(b)
	}
}

// handle answers one request frame. A panic anywhere below (handler,
// decoder, encoder) is recovered here, answered with SERVICE_UNAVAILABLE
// and closes this connection only.
func (c *conn) handle(t Type) (err error) {
	c.again = false
	defer func() {
		if p := recover(); p != nil {
			c.srv.logger().Error("panic while serving a frame; closing the connection",
				zap.Stringer("type", t), zap.Any("panic", p), zap.ByteString("stack", debug.Stack()))
			c.writeError(CodeServiceUnavailable)
			err = errClose
		}
	}()
	c.call.reset(t)
	switch t {
	case TypePrepareConf:
		return c.handlePrepareConf()
	case TypeHTTPReqCall:
		return c.handleReqCall()
	case TypeHTTPRespCall:
		return c.handleRespCall()
	default:
		c.srv.logger().Debug("unexpected frame type; answered BAD_REQUEST", zap.Stringer("type", t))
		return c.writeError(CodeBadRequest)
	}
}

func (c *conn) handlePrepareConf() error {
	if err := c.prep.Decode(c.in.B); err != nil {
		return c.answerError(err)
	}
	token, err := c.srv.Handler.PrepareConf(&c.prep)
	if err != nil {
		return c.answerError(err)
	}
	return c.write(c.enc.PrepareConf(token))
}

func (c *conn) handleReqCall() error {
	if err := c.reqCall.Decode(c.in.B); err != nil {
		return c.answerError(err)
	}
	c.reqReply.Reset()
	if err := c.srv.Handler.HTTPReqCall(&c.call, &c.reqCall, &c.reqReply); err != nil {
		return c.answerError(err)
	}
	if c.call.broken {
		return errClose
	}
	frame, err := c.enc.ReqCall(c.reqCall.ID, &c.reqReply)
	if err != nil {
		return c.answerError(err)
	}
	return c.reply(frame)
}

func (c *conn) handleRespCall() error {
	if err := c.respCall.Decode(c.in.B); err != nil {
		return c.answerError(err)
	}
	c.respReply.Reset()
	if err := c.srv.Handler.HTTPRespCall(&c.call, &c.respCall, &c.respReply); err != nil {
		return c.answerError(err)
	}
	if c.call.broken {
		return errClose
	}
	frame, err := c.enc.RespCall(c.respCall.ID, &c.respReply)
	if err != nil {
		return c.answerError(err)
	}
	return c.reply(frame)
}

// answerError sends the RPC_ERROR that answers err. The connection stays
// open (APISIX closes it after an error), unless an ExtraInfo exchange
// broke it.
func (c *conn) answerError(err error) error {
	if c.call.broken {
		return errClose
	}
	code := CodeOf(err)
	if errors.Is(err, ErrFrameTooLarge) {
		c.srv.logger().Warn("reply exceeds the frame size limit; answered SERVICE_UNAVAILABLE", zap.Error(err))
	} else if code == CodeBadRequest {
		c.srv.logger().Debug("bad request", zap.Error(err))
	}
	return c.writeError(code)
}

func (c *conn) writeError(code Code) error {
	return c.write(c.enc.Error(code))
}

func (c *conn) writeTimeout() time.Duration {
	if c.srv.WriteTimeout > 0 {
		return c.srv.WriteTimeout
	}
	return 60 * time.Second
}

// write writes one frame. A write that completes at once, as nearly all
// do, reads no clock and sets no deadline: through the raw connection,
// the deadline is set only when the socket buffer is full and the write
// has to wait for the peer.
func (c *conn) write(frame []byte) error {
	if c.raw == nil {
		return c.writeWithDeadline(frame)
	}
	c.pending, c.werr, c.armed = frame, nil, false
	err := c.raw.Write(c.writeFn)
	if c.armed {
		c.nc.SetWriteDeadline(time.Time{})
	}
	if err == nil {
		err = c.werr
	}
	c.pending, c.werr = nil, nil
	if err != nil {
		return fmt.Errorf("protocol: write: %w", err)
	}
	return nil
}

// Wait states of a connection (conn.wait).
const (
	running = iota
	waiting
	poked
)

// reply writes the final answer to an HTTP call. When that leaves the
// connection idle (nothing buffered, the last read drained the socket, no
// shutdown), the replier writes it and waits for the next request without
// the read that would fail with EAGAIN; the serve loop then reads that
// request as usual.
func (c *conn) reply(frame []byte) error {
	if c.replier == nil || !c.src.Quiet(c.r) {
		return c.write(frame)
	}
	c.idle.Store(true) // before the shutdown check: see Shutdown
	if c.srv.inShutdown.Load() {
		c.idle.Store(false)
		return c.write(frame)
	}
	c.waits.Add(1)
	c.wait.Store(waiting)
	rest, werr, err := c.replier.Wait(frame)
	if !c.wait.CompareAndSwap(waiting, running) {
		// The poker set a past read deadline to end a long wait; take
		// it back under its lock, so that it cannot land afterwards.
		c.pokeMu.Lock()
		c.nc.SetReadDeadline(time.Time{})
		c.wait.Store(running)
		c.pokeMu.Unlock()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil
		}
	}
	c.idle.Store(false)
	switch {
	case werr != nil:
		return fmt.Errorf("protocol: write: %w", werr)
	case len(rest) > 0:
		return c.write(rest)
	case err != nil:
		// The reply is out; Shutdown's deadline or a close ended the
		// wait, and the serve loop's next read sees which.
		return nil
	}
	c.again = true
	return nil
}

// poke runs while the server has connections with a replier: every tick
// it wakes those that have waited in their replier since the last tick,
// so that a frame that arrived just before a wait began (only a peer that
// pipelines sends one) is read after at most two ticks. It picks them
// under s.mu and pokes them after releasing it.
func (s *Server) poke() {
	s.mu.Lock()
	every := s.pokeEvery
	s.mu.Unlock()
	if every <= 0 {
		every = pokeInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var stuck []*conn
	for range t.C {
		s.mu.Lock()
		if len(s.conns) == 0 || s.inShutdown.Load() {
			s.poking = false
			s.mu.Unlock()
			return
		}
		stuck = stuck[:0]
		for c := range s.conns {
			if c.stuck() {
				stuck = append(stuck, c)
			}
		}
		s.mu.Unlock()
		for i, c := range stuck {
			c.pokeWait()
			stuck[i] = nil
		}
	}
}

// stuck reports whether c is in the same replier wait as at the poker's
// last tick. Only the poker calls it.
func (c *conn) stuck() bool {
	n := c.waits.Load()
	if c.wait.Load() != waiting || n != c.pokeSeen {
		c.pokeSeen = n
		return false
	}
	return true
}

// pokeWait ends c's replier wait, if it is still under way, with a past
// read deadline. If c began a new wait since stuck, that one ends early,
// which costs it one read that finds nothing.
func (c *conn) pokeWait() {
	c.pokeMu.Lock()
	if c.wait.CompareAndSwap(waiting, poked) {
		c.nc.SetReadDeadline(aLongTimeAgo)
		c.srv.pokes.Add(1)
	}
	c.pokeMu.Unlock()
}

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// writeSome is the syscall.RawConn write callback: it writes c.pending
// and returns false to wait until the socket is writable again, after
// arming the write deadline the first time.
func (c *conn) writeSome(fd uintptr) bool {
	var blocked bool
	c.pending, blocked, c.werr = writeFD(fd, c.pending)
	if blocked {
		if !c.armed {
			c.armed = true
			c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout()))
		}
		return false
	}
	return true
}

// writeWithDeadline writes to a connection without a raw descriptor.
func (c *conn) writeWithDeadline(frame []byte) error {
	timeout := c.writeTimeout()
	// Setting a deadline on every write would cost a timer update per
	// reply; refreshing it once a little of it is used up is enough.
	slack := min(time.Second, timeout/2)
	if now := time.Now(); c.writeDeadline.Sub(now) < timeout-slack {
		c.writeDeadline = now.Add(timeout)
		c.nc.SetWriteDeadline(c.writeDeadline)
	}
	if _, err := c.nc.Write(frame); err != nil {
		return fmt.Errorf("protocol: write: %w", err)
	}
	return nil
}

// Call is the connection's side channel during an HTTPReqCall or
// HTTPRespCall: it asks APISIX for ExtraInfo on the same connection. Results
// point into a buffer that is reused by the next question; copy what you
// keep.
type Call struct {
	c      *conn
	t      Type
	buf    *bytebufferpool.ByteBuffer
	resp   ExtraInfoResponse
	n      int
	broken bool
	value  any // the handler's, kept with the connection
}

// ConnValue returns what the handler last stored with SetConnValue on a
// call of the same connection, or nil.
func (x *Call) ConnValue() any { return x.value }

// SetConnValue keeps v with the call's connection for the handler's own
// use in later calls on it, such as a cache of its last lookup. The
// server never reads it and drops it with the connection.
func (x *Call) SetConnValue(v any) { x.value = v }

func (x *Call) reset(t Type) {
	if x.buf != nil {
		putBuffer(x.buf)
		x.buf = nil
	}
	x.t, x.n, x.broken = t, 0, false
}

// ErrNoExtraInfo is returned when ExtraInfo is asked outside a call.
var ErrNoExtraInfo = errors.New("protocol: ExtraInfo is only available during an HTTP call")

// ExtraInfo asks APISIX one question and waits for the answer. ok is false
// when APISIX has no value (absent result). A kind other than InfoVar,
// InfoReqBody or InfoRespBody is refused without asking, because APISIX
// would fail the request. After any other error the connection is closed
// once the handler returns, because the exchange is out of step.
func (x *Call) ExtraInfo(kind InfoKind, name string) (result []byte, ok bool, err error) {
	if x.t != TypeHTTPReqCall && x.t != TypeHTTPRespCall {
		return nil, false, ErrNoExtraInfo
	}
	if kind < InfoVar || kind > InfoRespBody {
		// APISIX would fail the whole request and drop the connection.
		return nil, false, fmt.Errorf("protocol: ExtraInfo: unknown kind %d", uint8(kind))
	}
	if x.broken {
		return nil, false, errors.New("protocol: connection broken by an earlier ExtraInfo error")
	}
	err = x.c.write(x.c.enc.ExtraInfo(kind, name))
	if err == nil {
		err = x.read()
	}
	if err != nil {
		x.broken = true
		return nil, false, fmt.Errorf("protocol: ExtraInfo %s: %w", kind, err)
	}
	x.n++
	return x.resp.Result, x.resp.HasResult, nil
}

func (x *Call) read() error {
	timeout := x.c.srv.ExtraInfoTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	x.c.nc.SetReadDeadline(time.Now().Add(timeout))
	defer x.c.nc.SetReadDeadline(time.Time{})
	if x.buf == nil {
		x.buf = bytebufferpool.Get()
	}
	t, err := ReadFrame(x.c.r, x.buf)
	if err != nil {
		return err
	}
	if t != TypeExtraInfo {
		return fmt.Errorf("got a %s frame while waiting for the answer", t)
	}
	return x.resp.Decode(x.buf.B)
}

// Count returns how many ExtraInfo questions this call has asked.
func (x *Call) Count() int { return x.n }
