package protocol

import (
	"bufio"
	"io"
	"syscall"
)

// SocketReader reads from a connection and remembers whether its last read
// drained the socket: a read that returned less than it asked for took
// everything the kernel held. A runner puts it under its bufio.Reader so
// that it knows, at a frame boundary, whether a next frame may already be
// waiting (Quiet).
type SocketReader struct {
	R       io.Reader
	drained bool
}

// Read reads from R.
func (s *SocketReader) Read(p []byte) (int, error) {
	n, err := s.R.Read(p)
	s.drained = n < len(p)
	return n, err
}

// Quiet reports whether nothing the peer sent is waiting to be read: r,
// the bufio.Reader that reads through s, holds nothing, and s's last read
// returned less than it asked for. Only then may a Replier wait.
func (s *SocketReader) Quiet(r *bufio.Reader) bool { return r.Buffered() == 0 && s.drained }

// Replier writes a reply and then waits for the next request inside one
// syscall.RawConn.Read, the way a request/response peer such as APISIX
// uses the connection: it sends the next request only after it has read
// the reply.
//
// A connection goroutine that writes a reply and then reads pays a read
// system call that fails with EAGAIN before it parks; on a virtual machine
// a system call is about a microsecond, a tenth of the socket's cost per
// call. Inside RawConn.Read the poller's readiness is reset before the
// callback runs; the callback writes the reply and returns false, so the
// goroutine parks at once and wakes when the next request arrives, which
// it can only do after that reset.
//
// Data that arrived before the reset is not reported again: a peer that
// sends a frame before it read the previous reply (pipelining, which
// APISIX never does) could be left waiting. Call Wait only when the
// connection's SocketReader is Quiet, and
// give the wait a way out: a read deadline set by another goroutine ends
// it (Server pokes connections that wait longer than a tick).
type Replier struct {
	raw     syscall.RawConn
	fn      func(fd uintptr) bool // r.writeThenWait, bound once
	pending []byte
	wrote   bool
	err     error
}

// NewReplier returns a Replier for the connection behind raw.
func NewReplier(raw syscall.RawConn) *Replier {
	r := &Replier{raw: raw}
	r.fn = r.writeThenWait
	return r
}

// Wait writes frame and then waits until the socket is readable.
// unwritten is the tail of frame that Wait did not write, because the
// send buffer filled up or the read could not start (a passed deadline, a
// closed connection); it did not wait then: finish the write the usual
// way. writeErr is the write's error, waitErr the error that ended the
// wait (a read deadline, a closed connection). When all three are nil the
// next request is probably there; readiness can be spurious, so read it
// as usual.
func (r *Replier) Wait(frame []byte) (unwritten []byte, writeErr, waitErr error) {
	r.pending, r.wrote, r.err = frame, false, nil
	waitErr = r.raw.Read(r.fn)
	unwritten, writeErr = r.pending, r.err
	if !r.wrote {
		unwritten, waitErr = frame, nil
	}
	r.pending, r.err = nil, nil
	if len(unwritten) > 0 || writeErr != nil {
		waitErr = nil // no wait happened
	}
	return unwritten, writeErr, waitErr
}

// writeThenWait is the RawConn.Read callback. The first call writes the
// frame and returns false to park until the socket is readable; the call
// after that wake-up returns true.
func (r *Replier) writeThenWait(fd uintptr) bool {
	if r.wrote {
		return true
	}
	r.wrote = true
	var blocked bool
	r.pending, blocked, r.err = writeFD(fd, r.pending)
	// Park only once the whole frame is out; otherwise the caller
	// finishes the write (blocked) or reports r.err.
	return blocked || r.err != nil
}

// writeFD writes p to the non-blocking descriptor fd until it is all out,
// the socket's send buffer is full (blocked, with the rest) or a write
// fails.
func writeFD(fd uintptr, p []byte) (rest []byte, blocked bool, err error) {
	for len(p) > 0 {
		n, err := syscall.Write(int(fd), p)
		if n > 0 {
			p = p[n:]
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			return p, true, nil
		case err != nil:
			return p, false, err
		case n == 0:
			return p, false, io.ErrUnexpectedEOF
		}
	}
	return nil, false, nil
}
