// Package protocoltest is a fake APISIX peer for tests of the ext-plugin
// protocol, in the role of net/http/httptest.
//
// It builds the frames APISIX sends (EncodePrepareConf, EncodeReqCall,
// EncodeRespCall, EncodeExtraInfo), decodes the frames a runner answers into
// plain Go values that render as stable, sorted JSON (DecodeReply, JSON),
// and drives whole exchanges, ExtraInfo round trips included, over a real
// Unix socket (Conn, Server).
//
// Frames are encoded and decoded with the code that flatc generates from the
// schema, never with package protocol's own decoders and encoders, so a test
// through this package checks package protocol against an independent
// implementation.
//
// A typical test:
//
//	srv := protocoltest.NewServer(t, handler)
//	c := srv.Dial(t)
//	token, err := c.Prepare("route#1#ext-plugin-pre-req#1", protocoltest.KVs("auth", `{}`)...)
//	...
//	reply, questions, err := c.Call(protocoltest.ReqCall{ID: 7, ConfToken: token, Path: "/"}, nil)
package protocoltest

import (
	"context"
	"errors"
	"fmt"
	"github.com/scriptrunner/scriptrunner/protocol/apisix"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/protocol"
)

// The request and reply types and codecs live in package apisix, which
// does not depend on package testing; they are re-exported here for
// tests.
type (
	KV       = apisix.KV
	ReqCall  = apisix.ReqCall
	RespCall = apisix.RespCall
	Answers  = apisix.Answers
	Reply    = apisix.Reply
	Stop     = apisix.Stop
	Rewrite  = apisix.Rewrite
	Resp     = apisix.Resp
	Question = apisix.Question
)

// Question kinds.
const (
	KindVar      = apisix.KindVar
	KindReqBody  = apisix.KindReqBody
	KindRespBody = apisix.KindRespBody
)

// Codecs, see package apisix.
var (
	KVs               = apisix.KVs
	EncodePrepareConf = apisix.EncodePrepareConf
	EncodeReqCall     = apisix.EncodeReqCall
	EncodeRespCall    = apisix.EncodeRespCall
	EncodeExtraInfo   = apisix.EncodeExtraInfo
	DecodeReply       = apisix.DecodeReply
	JSON              = apisix.JSON
)

// maxSocketPath is the longest Unix socket path accepted on every platform
// we build for (sun_path is 104 bytes on the BSDs, 108 on Linux, both with
// a terminating NUL).
const maxSocketPath = 103

// SocketPath returns the path of a Unix socket in a new, short directory
// under os.TempDir() (or /tmp when that is too long), removed by
// t.Cleanup. t.TempDir() paths embed the test name and often exceed the
// ~104-byte limit of socket paths.
func SocketPath(t testing.TB) string {
	t.Helper()
	for _, base := range []string{os.TempDir(), "/tmp"} {
		dir, err := os.MkdirTemp(base, "pt")
		if err != nil {
			continue
		}
		path := filepath.Join(dir, "s.sock")
		if len(path) > maxSocketPath {
			os.RemoveAll(dir)
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return path
	}
	t.Fatalf("protocoltest: no temporary directory gives a socket path under %d bytes", maxSocketPath)
	return ""
}

// DefaultTimeout bounds every read and write of a Conn whose Timeout is
// zero, so that a runner that never answers fails the test instead of
// hanging it.
const DefaultTimeout = 10 * time.Second

// Conn is the APISIX side of one runner connection. It is not safe for
// concurrent use, like a real APISIX connection, which carries one
// exchange at a time.
type Conn struct {
	// Timeout bounds each read and each write. Zero means DefaultTimeout.
	Timeout time.Duration

	nc  net.Conn
	hdr [protocol.HeaderSize]byte
	buf []byte
}

// NewConn wraps nc, for example one end of net.Pipe.
func NewConn(nc net.Conn) *Conn { return &Conn{nc: nc} }

// Dial connects to the Unix socket at path and closes the connection in
// t.Cleanup. It fails the test if the connection cannot be made.
func Dial(t testing.TB, path string) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("unix", path, DefaultTimeout)
	if err != nil {
		t.Fatalf("protocoltest: dial %s: %v", path, err)
	}
	t.Cleanup(func() { nc.Close() })
	return NewConn(nc)
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

func (c *Conn) deadline() time.Time {
	d := c.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	return time.Now().Add(d)
}

// WriteRaw writes b as is, so tests can send broken or split frames.
func (c *Conn) WriteRaw(b []byte) error {
	c.nc.SetWriteDeadline(c.deadline())
	_, err := c.nc.Write(b)
	if err != nil {
		return fmt.Errorf("protocoltest: write: %w", err)
	}
	return nil
}

// WriteFrame writes one frame with a single Write. Unlike package protocol,
// it accepts an empty payload, which APISIX never sends.
func (c *Conn) WriteFrame(t protocol.Type, payload []byte) error {
	if len(payload) > protocol.MaxFrameSize {
		return fmt.Errorf("protocoltest: write %s: %w", t, protocol.ErrFrameTooLarge)
	}
	n := len(payload)
	frame := make([]byte, 0, protocol.HeaderSize+n)
	frame = append(frame, byte(t), byte(n>>16), byte(n>>8), byte(n))
	return c.WriteRaw(append(frame, payload...))
}

// ReadFrame reads one frame. The payload is valid until the next read. A
// connection closed before the first header byte returns io.EOF; one closed
// inside a frame returns io.ErrUnexpectedEOF.
func (c *Conn) ReadFrame() (protocol.Type, []byte, error) {
	c.nc.SetReadDeadline(c.deadline())
	if _, err := io.ReadFull(c.nc, c.hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(c.hdr[1])<<16 | int(c.hdr[2])<<8 | int(c.hdr[3])
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	if _, err := io.ReadFull(c.nc, c.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return protocol.Type(c.hdr[0]), nil, err
	}
	return protocol.Type(c.hdr[0]), c.buf, nil
}

// ReadReply reads and decodes one frame from the runner.
func (c *Conn) ReadReply() (Reply, error) {
	t, payload, err := c.ReadFrame()
	if err != nil {
		return Reply{Type: t}, err
	}
	return DecodeReply(t, payload)
}

// RPCError is the error Prepare returns when the runner answers with an
// RPC_ERROR frame.
type RPCError struct {
	Code protocol.Code
}

func (e *RPCError) Error() string {
	return "protocoltest: runner answered RPC_ERROR " + e.Code.String()
}

// Prepare sends a PrepareConf request and returns the conf token. If the
// runner answers with an RPC_ERROR, the error is a *RPCError.
func (c *Conn) Prepare(key string, conf ...KV) (uint32, error) {
	if err := c.WriteFrame(protocol.TypePrepareConf, EncodePrepareConf(key, conf...)); err != nil {
		return 0, err
	}
	r, err := c.ReadReply()
	if err != nil {
		return 0, err
	}
	switch r.Type {
	case protocol.TypePrepareConf:
		return r.Token, nil
	case protocol.TypeError:
		return 0, &RPCError{Code: *r.Err}
	}
	return 0, fmt.Errorf("protocoltest: PrepareConf answered with unexpected type %s", r.Type)
}

// AnswerFunc answers an ExtraInfo question; ok false sends an absent
// result. A nil AnswerFunc answers every question with an absent result.
type AnswerFunc func(q Question) (result []byte, ok bool)

// Call sends an HTTPReqCall, answers every ExtraInfo question through
// answer, and returns the final reply and the questions in the order they
// were asked. An RPC_ERROR answer is a reply with Err set, not an error;
// the error reports transport failures, undecodable frames, frame types
// APISIX would reject and ExtraInfo kinds outside 1–3, which APISIX
// rejects too.
func (c *Conn) Call(req ReqCall, answer AnswerFunc) (Reply, []Question, error) {
	payload, err := EncodeReqCall(req)
	if err != nil {
		return Reply{}, nil, err
	}
	return c.exchange(protocol.TypeHTTPReqCall, payload, answer)
}

// RespCall is Call for an HTTPRespCall.
func (c *Conn) RespCall(req RespCall, answer AnswerFunc) (Reply, []Question, error) {
	payload, err := EncodeRespCall(req)
	if err != nil {
		return Reply{}, nil, err
	}
	return c.exchange(protocol.TypeHTTPRespCall, payload, answer)
}

// exchange runs APISIX's client loop (protocol.md §5) for one call.
func (c *Conn) exchange(t protocol.Type, payload []byte, answer AnswerFunc) (Reply, []Question, error) {
	if err := c.WriteFrame(t, payload); err != nil {
		return Reply{}, nil, err
	}
	var questions []Question
	for {
		r, err := c.ReadReply()
		if err != nil {
			return r, questions, err
		}
		switch r.Type {
		case t, protocol.TypeError:
			return r, questions, nil
		case protocol.TypeExtraInfo:
		default:
			return r, questions, fmt.Errorf("protocoltest: %s answered with unexpected type %s", t, r.Type)
		}
		q := *r.Question
		questions = append(questions, q)
		if !q.Valid() {
			return r, questions, fmt.Errorf("protocoltest: unknown ExtraInfo %s", q.Kind)
		}
		var result []byte
		ok := false
		if answer != nil {
			result, ok = answer(q)
		}
		if err := c.WriteFrame(protocol.TypeExtraInfo, EncodeExtraInfo(result, ok)); err != nil {
			return r, questions, err
		}
	}
}

// Server is a protocol.Server serving on a fresh Unix socket, in the role
// of httptest.Server. t.Cleanup shuts it down and reports a Serve error
// other than protocol.ErrServerClosed.
type Server struct {
	*protocol.Server
	// Path is the socket path.
	Path string
}

// NewServer starts a protocol.Server for h with default settings.
func NewServer(t testing.TB, h protocol.Handler) *Server {
	t.Helper()
	return Start(t, &protocol.Server{Handler: h})
}

// Start serves srv on a new socket from SocketPath. Set srv's fields
// before calling it.
func Start(t testing.TB, srv *protocol.Server) *Server {
	t.Helper()
	path := SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("protocoltest: listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("protocoltest: shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, protocol.ErrServerClosed) {
			t.Errorf("protocoltest: Serve returned %v, want %v", err, protocol.ErrServerClosed)
		}
	})
	return &Server{Server: srv, Path: path}
}

// Dial opens a new connection to s, closed by t.Cleanup.
func (s *Server) Dial(t testing.TB) *Conn {
	t.Helper()
	return Dial(t, s.Path)
}
