package protocol_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// fakeHandler calls its functions; a nil function gives a default answer:
// token 1, pass through, keep the upstream response.
type fakeHandler struct {
	prepare  func(req *protocol.PrepareConfRequest) (uint32, error)
	reqCall  func(c *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error
	respCall func(c *protocol.Call, req *protocol.HTTPRespCallRequest, reply *protocol.RespCallReply) error
}

func (h *fakeHandler) PrepareConf(req *protocol.PrepareConfRequest) (uint32, error) {
	if h.prepare == nil {
		return 1, nil
	}
	return h.prepare(req)
}

func (h *fakeHandler) HTTPReqCall(c *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
	if h.reqCall == nil {
		return nil
	}
	return h.reqCall(c, req, reply)
}

func (h *fakeHandler) HTTPRespCall(c *protocol.Call, req *protocol.HTTPRespCallRequest, reply *protocol.RespCallReply) error {
	if h.respCall == nil {
		return nil
	}
	return h.respCall(c, req, reply)
}

var _ protocol.Handler = (*fakeHandler)(nil)

// checkFor polls f until it returns nil or timeout passes.
func checkFor(tb testing.TB, timeout time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// mustPrepare checks that c still works.
func mustPrepare(tb testing.TB, c *protocoltest.Conn) {
	tb.Helper()
	if _, err := c.Prepare("k", protocoltest.KVs("p", "v")...); err != nil {
		tb.Fatalf("Prepare on the same connection: %v", err)
	}
}

// expectClosed checks that the runner closed c.
func expectClosed(tb testing.TB, c *protocoltest.Conn) {
	tb.Helper()
	if typ, _, err := c.ReadFrame(); err != io.EOF {
		tb.Fatalf("read after the connection should be closed: got type %v, error %v, want io.EOF", typ, err)
	}
}

func TestServerPrepareConf(t *testing.T) {
	type seen struct {
		key  string
		conf []entry
	}
	got := make(chan seen, 1)
	srv := protocoltest.NewServer(t, &fakeHandler{prepare: func(req *protocol.PrepareConfRequest) (uint32, error) {
		got <- seen{string(req.Key), view(t, req.Conf)}
		return 0xfffffffe, nil
	}})
	c := srv.Dial(t)
	token, err := c.Prepare("route#1#ext-plugin-pre-req#42", protocoltest.KV{Name: "a", Value: "1"}, protocoltest.KV{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if token != 0xfffffffe {
		t.Errorf("token = %d, want %d", token, uint32(0xfffffffe))
	}
	want := seen{"route#1#ext-plugin-pre-req#42", []entry{kv("a", "1"), kv("b", "")}}
	if s := <-got; !reflect.DeepEqual(s, want) {
		t.Errorf("handler saw %+v, want %+v", s, want)
	}
}

func TestServerHTTPReqCall(t *testing.T) {
	tests := []struct {
		name  string
		reply func(r *protocol.ReqCallReply)
		want  protocoltest.Reply
	}{
		{"pass", func(r *protocol.ReqCallReply) {}, protocoltest.Reply{Action: "none"}},
		{"stop", func(r *protocol.ReqCallReply) {
			r.Action, r.Status, r.Body = protocol.ActionStop, 403, []byte("denied")
			r.Headers = append(r.Headers, pe("x-reason", "test"))
		}, protocoltest.Reply{Action: "stop", Stop: &protocoltest.Stop{Status: 403, Headers: protocoltest.KVs("x-reason", "test"), Body: "denied"}}},
		{"rewrite", func(r *protocol.ReqCallReply) {
			r.Action, r.Path, r.HasPath = protocol.ActionRewrite, []byte("/new"), true
			r.Headers = append(r.Headers, pa("x-drop"))
			r.Args = append(r.Args, pe("a", "1"))
			r.RespHeaders = append(r.RespHeaders, pe("x-resp", "1"))
		}, protocoltest.Reply{Action: "rewrite", Rewrite: &protocoltest.Rewrite{Path: ptr("/new"),
			Headers: kvs{{Name: "x-drop", NoValue: true}}, Args: protocoltest.KVs("a", "1"), RespHeaders: protocoltest.KVs("x-resp", "1")}}},
	}
	var mu sync.Mutex
	var current func(*protocol.ReqCallReply)
	var seen protocol.HTTPReqCallRequest
	srv := protocoltest.NewServer(t, &fakeHandler{reqCall: func(_ *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
		mu.Lock()
		defer mu.Unlock()
		seen = protocol.HTTPReqCallRequest{ID: req.ID, ConfToken: req.ConfToken, Method: req.Method,
			Path: append([]byte(nil), req.Path...), SrcIP: append([]byte(nil), req.SrcIP...)}
		current(reply)
		return nil
	}})
	c := srv.Dial(t)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			current = tc.reply
			mu.Unlock()
			id := uint32(4194311 + i)
			reply, qs, err := c.Call(protocoltest.ReqCall{ID: id, ConfToken: 233, Method: "POST", Path: "/hello"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Type, tc.want.ID = protocol.TypeHTTPReqCall, id
			if !reflect.DeepEqual(reply, tc.want) || len(qs) != 0 {
				t.Errorf("reply = %s (questions %v), want %s", js(reply), qs, js(tc.want))
			}
			mu.Lock()
			defer mu.Unlock()
			if seen.ID != id || seen.ConfToken != 233 || seen.Method.String() != "POST" || string(seen.Path) != "/hello" || seen.SrcIP != nil {
				t.Errorf("handler saw %+v", seen)
			}
		})
	}
}

func TestServerHTTPRespCall(t *testing.T) {
	got := make(chan []entry, 1)
	srv := protocoltest.NewServer(t, &fakeHandler{respCall: func(_ *protocol.Call, req *protocol.HTTPRespCallRequest, reply *protocol.RespCallReply) error {
		got <- view(t, req.Headers)
		reply.Status = int(req.Status) + 1
		reply.Headers = append(reply.Headers, pe("content-type", "text/plain"))
		reply.Body = append(reply.Body, "new body"...)
		return nil
	}})
	c := srv.Dial(t)
	reply, _, err := c.RespCall(protocoltest.RespCall{ID: 8, ConfToken: 1, Status: 200, Headers: protocoltest.KVs("Server", "x")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := protocoltest.Reply{Type: protocol.TypeHTTPRespCall, ID: 8,
		Resp: &protocoltest.Resp{Status: 201, Headers: protocoltest.KVs("content-type", "text/plain"), Body: "new body"}}
	if !reflect.DeepEqual(reply, want) {
		t.Errorf("reply = %s, want %s", js(reply), js(want))
	}
	if h := <-got; !reflect.DeepEqual(h, []entry{kv("Server", "x")}) {
		t.Errorf("handler saw headers %+v, want Server=x", h)
	}
}

// answer is one ExtraInfo result as the handler saw it.
type answer struct {
	Value string
	OK    bool
}

func askAll(c *protocol.Call, kinds []protocol.InfoKind, names []string) ([]answer, error) {
	var out []answer
	for i, k := range kinds {
		v, ok, err := c.ExtraInfo(k, names[i])
		if err != nil {
			return out, err
		}
		out = append(out, answer{string(v), ok})
	}
	if c.Count() != len(kinds) {
		return out, fmt.Errorf("Count() = %d, want %d", c.Count(), len(kinds))
	}
	return out, nil
}

func TestServerExtraInfo(t *testing.T) {
	got := make(chan []answer, 2)
	kinds := []protocol.InfoKind{protocol.InfoVar, protocol.InfoVar, protocol.InfoVar, protocol.InfoReqBody, protocol.InfoRespBody}
	names := []string{"remote_addr", "missing", "arg_y", "", ""}
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(c *protocol.Call, _ *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			a, err := askAll(c, kinds, names)
			got <- a
			reply.Action, reply.Status = protocol.ActionStop, 299
			return err
		},
		respCall: func(c *protocol.Call, _ *protocol.HTTPRespCallRequest, reply *protocol.RespCallReply) error {
			a, err := askAll(c, kinds[4:], names[4:])
			got <- a
			reply.Body = append(reply.Body, a[0].Value...)
			return err
		},
	})
	answers := &protocoltest.Answers{Vars: map[string]string{"remote_addr": "127.0.0.1", "arg_y": ""}, ReqBody: ptr("request body")}
	c := srv.Dial(t)
	reply, qs, err := c.Call(protocoltest.ReqCall{ID: 1}, answers.Answer)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Stop == nil || reply.Stop.Status != 299 {
		t.Errorf("reply = %s, want stop 299", js(reply))
	}
	wantQs := []protocoltest.Question{{Kind: "var", Name: "remote_addr"}, {Kind: "var", Name: "missing"},
		{Kind: "var", Name: "arg_y"}, {Kind: "req_body"}, {Kind: "resp_body"}}
	if !reflect.DeepEqual(qs, wantQs) {
		t.Errorf("questions = %+v, want %+v", qs, wantQs)
	}
	want := []answer{{"127.0.0.1", true}, {"", false}, {"", true}, {"request body", true}, {"", false}}
	if a := <-got; !reflect.DeepEqual(a, want) {
		t.Errorf("handler got %+v, want %+v", a, want)
	}

	answers.RespBody = ptr("upstream body")
	reply, qs, err = c.RespCall(protocoltest.RespCall{ID: 2, Status: 200}, answers.Answer)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Resp == nil || reply.Resp.Body != "upstream body" || len(qs) != 1 {
		t.Errorf("reply = %s with %d questions, want body %q after 1 question", js(reply), len(qs), "upstream body")
	}
	<-got
}

func TestServerHandlerErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want protocol.Code
	}{
		{"conf token not found", protocol.ErrConfTokenNotFound, protocol.CodeConfTokenNotFound},
		{"wrapped conf token not found", fmt.Errorf("lookup: %w", protocol.ErrConfTokenNotFound), protocol.CodeConfTokenNotFound},
		{"bad request", protocol.BadRequest(errors.New("bad conf")), protocol.CodeBadRequest},
		{"explicit service unavailable", &protocol.Error{Code: protocol.CodeServiceUnavailable}, protocol.CodeServiceUnavailable},
		{"plain error", errors.New("boom"), protocol.CodeServiceUnavailable},
	}
	var mu sync.Mutex
	var current error
	fail := func() error {
		mu.Lock()
		defer mu.Unlock()
		return current
	}
	srv := protocoltest.NewServer(t, &fakeHandler{
		prepare: func(req *protocol.PrepareConfRequest) (uint32, error) {
			if len(req.Conf) == 0 {
				return 0, fail()
			}
			return 1, nil
		},
		reqCall: func(*protocol.Call, *protocol.HTTPReqCallRequest, *protocol.ReqCallReply) error { return fail() },
		respCall: func(*protocol.Call, *protocol.HTTPRespCallRequest, *protocol.RespCallReply) error {
			return fail()
		},
	})
	c := srv.Dial(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			current = tc.err
			mu.Unlock()
			var rpcErr *protocoltest.RPCError
			if _, err := c.Prepare("k"); !errors.As(err, &rpcErr) || rpcErr.Code != tc.want {
				t.Errorf("PrepareConf: got %v, want RPC_ERROR %v", err, tc.want)
			}
			for name, call := range map[string]func() (protocoltest.Reply, []protocoltest.Question, error){
				"HTTPReqCall": func() (protocoltest.Reply, []protocoltest.Question, error) {
					return c.Call(protocoltest.ReqCall{}, nil)
				},
				"HTTPRespCall": func() (protocoltest.Reply, []protocoltest.Question, error) {
					return c.RespCall(protocoltest.RespCall{}, nil)
				},
			} {
				reply, _, err := call()
				if err != nil || reply.Type != protocol.TypeError || *reply.Err != tc.want {
					t.Errorf("%s: reply %s, error %v, want RPC_ERROR %v", name, js(reply), err, tc.want)
				}
			}
			mustPrepare(t, c)
		})
	}
}

func TestServerBadRequests(t *testing.T) {
	called := make(chan string, 10)
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(*protocol.Call, *protocol.HTTPReqCallRequest, *protocol.ReqCallReply) error {
			called <- "HTTPReqCall"
			return nil
		},
	})
	valid := goldenPayload(t, "extra_info_resp.bin")
	tests := []struct {
		name    string
		typ     protocol.Type
		payload []byte
	}{
		{"RPC_ERROR from APISIX", protocol.TypeError, valid},
		{"ExtraInfo outside a call", protocol.TypeExtraInfo, valid},
		{"type 5", protocol.Type(5), valid},
		{"type 255", protocol.Type(255), valid},
		{"empty HTTPReqCall", protocol.TypeHTTPReqCall, nil},
		{"empty PrepareConf", protocol.TypePrepareConf, nil},
		{"malformed PrepareConf", protocol.TypePrepareConf, []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"malformed HTTPReqCall", protocol.TypeHTTPReqCall, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"malformed HTTPRespCall", protocol.TypeHTTPRespCall, []byte{4, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f}},
		{"HTTPReqCall with unknown method", protocol.TypeHTTPReqCall, unknownMethod(t)},
	}
	c := srv.Dial(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.WriteFrame(tc.typ, tc.payload); err != nil {
				t.Fatal(err)
			}
			reply, err := c.ReadReply()
			if err != nil || reply.Type != protocol.TypeError || *reply.Err != protocol.CodeBadRequest {
				t.Fatalf("reply %s, error %v, want RPC_ERROR BAD_REQUEST", js(reply), err)
			}
			mustPrepare(t, c)
		})
	}
	select {
	case h := <-called:
		t.Errorf("%s handler called for a bad request", h)
	default:
	}
}

func unknownMethod(tb testing.TB) []byte {
	b := fb(append([]byte(nil), goldenPayload(tb, "http_req_call_req.bin")...))
	b[b.field(b.root(), 2)] = 15
	return b
}

func observedServer(t *testing.T, h protocol.Handler) (*protocoltest.Server, *observer.ObservedLogs) {
	core, logs := observer.New(zap.DebugLevel)
	return protocoltest.Start(t, &protocol.Server{Handler: h, Logger: zap.New(core)}), logs
}

func TestServerHandlerPanic(t *testing.T) {
	srv, logs := observedServer(t, &fakeHandler{
		reqCall: func(_ *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			if string(req.Path) == "/panic" {
				panic("handler bug")
			}
			reply.Action, reply.Status = protocol.ActionStop, 200
			return nil
		},
	})
	c1, c2 := srv.Dial(t), srv.Dial(t)
	mustPrepare(t, c2)

	reply, _, err := c1.Call(protocoltest.ReqCall{Path: "/panic"}, nil)
	if err != nil || reply.Type != protocol.TypeError || *reply.Err != protocol.CodeServiceUnavailable {
		t.Fatalf("reply %s, error %v, want RPC_ERROR SERVICE_UNAVAILABLE", js(reply), err)
	}
	expectClosed(t, c1)
	if n := logs.FilterMessageSnippet("panic").FilterField(zap.Any("panic", "handler bug")).Len(); n != 1 {
		t.Errorf("%d panic log entries, want 1", n)
	}

	for name, c := range map[string]*protocoltest.Conn{"other connection": c2, "new connection": srv.Dial(t)} {
		reply, _, err = c.Call(protocoltest.ReqCall{Path: "/ok"}, nil)
		if err != nil || reply.Stop == nil || reply.Stop.Status != 200 {
			t.Errorf("%s: reply %s, error %v, want stop 200", name, js(reply), err)
		}
	}
}

// callForQuestion sends an empty HTTPReqCall whose handler asks for
// ExtraInfo, checks that the question arrives, and returns the payload.
func callForQuestion(t *testing.T, c *protocoltest.Conn) []byte {
	t.Helper()
	payload, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{})
	if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
		t.Fatal(err)
	}
	if r, err := c.ReadReply(); err != nil || r.Question == nil {
		t.Fatalf("got %s, %v, want an ExtraInfo question", js(r), err)
	}
	return payload
}

func TestServerExtraInfoOutOfStep(t *testing.T) {
	errs := make(chan error, 2)
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(c *protocol.Call, _ *protocol.HTTPReqCallRequest, _ *protocol.ReqCallReply) error {
			_, _, err := c.ExtraInfo(protocol.InfoVar, "x")
			errs <- err
			_, _, err = c.ExtraInfo(protocol.InfoVar, "y")
			errs <- err
			return nil
		},
	})
	c := srv.Dial(t)
	payload := callForQuestion(t, c)
	// Answer with a new call instead of the ExtraInfo answer.
	if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	if err := <-errs; err == nil {
		t.Error("ExtraInfo answered by a wrong frame type: got nil error")
	}
	if err := <-errs; err == nil {
		t.Error("ExtraInfo after a broken exchange: got nil error")
	}
}

func TestServerExtraInfoTimeout(t *testing.T) {
	errs := make(chan error, 1)
	srv := protocoltest.Start(t, &protocol.Server{ExtraInfoTimeout: 20 * time.Millisecond, Handler: &fakeHandler{
		reqCall: func(c *protocol.Call, _ *protocol.HTTPReqCallRequest, _ *protocol.ReqCallReply) error {
			_, _, err := c.ExtraInfo(protocol.InfoReqBody, "")
			errs <- err
			return err
		},
	}})
	c := srv.Dial(t)
	callForQuestion(t, c)
	if err := <-errs; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("ExtraInfo error = %v, want one wrapping os.ErrDeadlineExceeded", err)
	}
	expectClosed(t, c)
}

func TestServerReplyTooLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 64 MiB")
	}
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(_ *protocol.Call, _ *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			reply.Action, reply.Body = protocol.ActionStop, make([]byte, protocol.MaxFrameSize)
			return nil
		},
	})
	c := srv.Dial(t)
	reply, _, err := c.Call(protocoltest.ReqCall{}, nil)
	if err != nil || reply.Type != protocol.TypeError || *reply.Err != protocol.CodeServiceUnavailable {
		t.Fatalf("reply %s, error %v, want RPC_ERROR SERVICE_UNAVAILABLE", js(reply), err)
	}
	mustPrepare(t, c)
}

func TestServerConcurrentConnections(t *testing.T) {
	const conns, calls = 24, 20
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(c *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			v, _, err := c.ExtraInfo(protocol.InfoVar, "n")
			if err != nil {
				return err
			}
			reply.Action, reply.Status = protocol.ActionStop, 200
			reply.Body = fmt.Appendf(reply.Body, "%d:%s:%s", req.ID, req.Path, v)
			return nil
		},
	})
	cs := make([]*protocoltest.Conn, conns)
	for i := range cs {
		cs[i] = srv.Dial(t)
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			for j := range calls {
				id := uint32(i*calls + j)
				n := strconv.Itoa(j)
				reply, _, err := c.Call(protocoltest.ReqCall{ID: id, Path: "/" + strconv.Itoa(i)},
					func(protocoltest.Question) ([]byte, bool) { return []byte(n), true })
				want := fmt.Sprintf("%d:/%d:%s", id, i, n)
				if err != nil || reply.ID != id || reply.Stop == nil || reply.Stop.Body != want {
					t.Errorf("connection %d call %d: reply %s, error %v, want body %q", i, j, js(reply), err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := srv.OpenConns(); n != conns {
		t.Errorf("OpenConns() = %d, want %d", n, conns)
	}
}

func TestServerOpenConns(t *testing.T) {
	srv := protocoltest.NewServer(t, &fakeHandler{})
	c1, c2 := srv.Dial(t), srv.Dial(t)
	mustPrepare(t, c1)
	mustPrepare(t, c2)
	if n := srv.OpenConns(); n != 2 {
		t.Errorf("OpenConns() = %d, want 2", n)
	}
	c1.Close()
	checkFor(t, 5*time.Second, func() error {
		if n := srv.OpenConns(); n != 1 {
			return fmt.Errorf("OpenConns() = %d after closing a connection, want 1", n)
		}
		return nil
	})
}

func TestServerShutdownWithCallInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv := protocoltest.Start(t, &protocol.Server{DrainGrace: 20 * time.Millisecond, Handler: &fakeHandler{
		reqCall: func(_ *protocol.Call, _ *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			close(entered)
			<-release
			reply.Action, reply.Status = protocol.ActionStop, 200
			return nil
		},
	}})
	busy, idle := srv.Dial(t), srv.Dial(t)
	mustPrepare(t, idle)
	type result struct {
		reply protocoltest.Reply
		err   error
	}
	called := make(chan result, 1)
	go func() {
		r, _, err := busy.Call(protocoltest.ReqCall{ID: 5}, nil)
		called <- result{r, err}
	}()
	<-entered
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(context.Background()) }()

	// Once new connections are refused, Shutdown is waiting for the call.
	checkFor(t, 5*time.Second, func() error {
		nc, err := net.Dial("unix", srv.Path)
		if err != nil {
			return nil
		}
		nc.Close()
		return errors.New("the listener still accepts connections during Shutdown")
	})
	expectClosed(t, idle)
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a call in flight", err)
	default:
	}
	close(release)

	res := <-called
	if res.err != nil || res.reply.ID != 5 || res.reply.Stop == nil || res.reply.Stop.Status != 200 {
		t.Errorf("in-flight call: reply %s, error %v, want stop 200 for id 5", js(res.reply), res.err)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	expectClosed(t, busy)
}

func TestServerShutdownTimeout(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(*protocol.Call, *protocol.HTTPReqCallRequest, *protocol.ReqCallReply) error {
			close(entered)
			<-release
			return nil
		},
	})
	t.Cleanup(func() { close(release) }) // runs before the server's own cleanup
	c := srv.Dial(t)
	called := make(chan error, 1)
	go func() {
		_, _, err := c.Call(protocoltest.ReqCall{}, nil)
		called <- err
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	if err := <-called; err == nil {
		t.Error("call cut by Shutdown: got nil error, want the connection closed")
	}
}

func TestServeAfterShutdown(t *testing.T) {
	srv := &protocol.Server{Handler: &fakeHandler{}}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", protocoltest.SocketPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := srv.Serve(ln); !errors.Is(err, protocol.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

func TestServerExtraInfoUnknownKind(t *testing.T) {
	errs := make(chan error, 1)
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(c *protocol.Call, _ *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			_, _, err := c.ExtraInfo(protocol.InfoKind(0), "")
			errs <- err
			reply.Action, reply.Status = protocol.ActionStop, 200
			return nil
		},
	})
	c := srv.Dial(t)
	reply, qs, err := c.Call(protocoltest.ReqCall{}, nil)
	if err != nil || len(qs) != 0 || reply.Stop == nil {
		t.Fatalf("reply %s, questions %v, error %v, want stop without questions", js(reply), qs, err)
	}
	if err := <-errs; err == nil {
		t.Error("ExtraInfo(0): got nil error")
	}
	mustPrepare(t, c)
}

// countingListener counts the completed Read calls on its connections.
type countingListener struct {
	net.Listener
	reads *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: nc, reads: l.reads}, nil
}

type countingConn struct {
	net.Conn
	reads *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.reads.Add(1)
	return n, err
}

// TestServerReadsFrameInOneCall checks the buffered read path: a request
// frame written at once is read with one read system call, not one for
// the header and one for the payload.
func TestServerReadsFrameInOneCall(t *testing.T) {
	path := protocoltest.SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	srv := &protocol.Server{Handler: &fakeHandler{}}
	go srv.Serve(countingListener{Listener: ln, reads: &reads})
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	c := protocoltest.Dial(t, path)
	for i := int64(1); i <= 3; i++ {
		if _, _, err := c.Call(protocoltest.ReqCall{ID: uint32(i), Path: "/", Headers: protocoltest.KVs("a", "1", "b", "2")}, nil); err != nil {
			t.Fatal(err)
		}
		// The reply was written, so the frame's reads are done; the read
		// for the next frame is still blocked.
		if got := reads.Load(); got != i {
			t.Fatalf("after call %d: got %d completed reads, want %d", i, got, i)
		}
	}
}

// TestServerExtraInfoSharesReader checks that ExtraInfo answers are read
// through the connection's buffer: an answer that arrived together with
// the request (so it sits in the buffer already) is not lost.
func TestServerExtraInfoSharesReader(t *testing.T) {
	srv := protocoltest.NewServer(t, &fakeHandler{
		reqCall: func(c *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
			v, ok, err := c.ExtraInfo(protocol.InfoVar, "remote_addr")
			if err != nil || !ok {
				return fmt.Errorf("ExtraInfo: %q %v %v", v, ok, err)
			}
			reply.Action, reply.Status, reply.Body = protocol.ActionStop, 200, append([]byte(nil), v...)
			return nil
		},
	})
	c := srv.Dial(t)
	req, err := protocoltest.EncodeReqCall(protocoltest.ReqCall{ID: 9, Path: "/"})
	if err != nil {
		t.Fatal(err)
	}
	ans := protocoltest.EncodeExtraInfo([]byte("10.0.0.7"), true)
	var both []byte
	both, _ = protocol.AppendFrameHeader(both, protocol.TypeHTTPReqCall, len(req))
	both = append(both, req...)
	both, _ = protocol.AppendFrameHeader(both, protocol.TypeExtraInfo, len(ans))
	both = append(both, ans...)
	if err := c.WriteRaw(both); err != nil {
		t.Fatal(err)
	}
	q, err := c.ReadReply()
	if err != nil || q.Type != protocol.TypeExtraInfo {
		t.Fatalf("got %v, %v; want the ExtraInfo question", q.Type, err)
	}
	r, err := c.ReadReply()
	if err != nil {
		t.Fatal(err)
	}
	if r.Stop == nil || r.Stop.Body != "10.0.0.7" {
		t.Errorf("got %+v, want a stop with body 10.0.0.7", r)
	}
}

// TestServerWriteTimeout: a peer that sends calls but never reads the
// replies must not hold the connection's goroutine forever. Unix sockets
// are written through their raw descriptor, with the deadline set once
// a write has to wait; "plain" connections, without a descriptor, take
// the path that keeps a deadline set.
func TestServerWriteTimeout(t *testing.T) {
	for _, plain := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "plain"}[plain], func(t *testing.T) {
			srv := &protocol.Server{WriteTimeout: 100 * time.Millisecond, Handler: &fakeHandler{
				reqCall: func(_ *protocol.Call, _ *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
					reply.Action, reply.Body = protocol.ActionStop, make([]byte, 1<<20)
					return nil
				},
			}}
			path := startServer(t, srv, plain)
			c := protocoltest.Dial(t, path)
			mustPrepare(t, c)
			if n := srv.OpenConns(); n != 1 {
				t.Fatalf("got %d open connections, want 1", n)
			}
			// A reply that fits is written whole.
			r, _, err := c.Call(protocoltest.ReqCall{ID: 9}, nil)
			if err != nil || r.Stop == nil || len(r.Stop.Body) != 1<<20 {
				t.Fatalf("got %v, %v; want a stop with a 1 MiB body", r.Stop != nil, err)
			}
			payload, _ := protocoltest.EncodeReqCall(protocoltest.ReqCall{})
			// Enough replies to fill both socket buffers; the peer reads none.
			for range 16 {
				if err := c.WriteFrame(protocol.TypeHTTPReqCall, payload); err != nil {
					break // the runner closed the connection
				}
			}
			checkFor(t, 5*time.Second, func() error {
				if n := srv.OpenConns(); n != 0 {
					return fmt.Errorf("%d connections still open", n)
				}
				return nil
			})
			mustPrepare(t, protocoltest.Dial(t, path))
		})
	}
}

// plainListener hands out connections that hide their file descriptor
// (no syscall.Conn), as a TLS or in-memory connection would.
type plainListener struct{ net.Listener }

type plainConn struct{ net.Conn }

func (l plainListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return plainConn{nc}, nil
}

// startServer serves srv on a new Unix socket, through plainListener if
// plain, until the test ends, and returns the socket path.
func startServer(t *testing.T, srv *protocol.Server, plain bool) string {
	t.Helper()
	if !plain {
		return protocoltest.Start(t, srv).Path
	}
	path := protocoltest.SocketPath(t)
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(plainListener{ln}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, protocol.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return path
}
