package runner_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner/runnertest"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// bigBody is 4 MiB of varied bytes, so a dropped or shifted chunk shows.
func bigBody() string {
	var b strings.Builder
	for i := 0; b.Len() < 4<<20; i++ {
		fmt.Fprintf(&b, "%08d,", i)
	}
	return b.String()[:4<<20]
}

func TestLargeBodiesRoundTrip(t *testing.T) {
	scripts := map[string][]byte{
		"upper.star": []byte(`
def on_request(req, conf):
    req.set_body(req.text() + "!")

def on_response(resp, conf):
    resp.set_body(resp.body() + b"?")
`),
	}
	// Generous limits: -race makes copying 4 MiB slow.
	h := runnertest.Start(t, scripts, engine.Config{Timeout: 20 * time.Second})
	body := bigBody()
	confs := []runnertest.Conf{{Name: "upper", Value: []byte(`{}`)}}

	got := h.Run(t, runnertest.Exchange{
		Confs:   confs,
		Request: &protocoltest.ReqCall{ID: 1, Method: "POST", Path: "/upload"},
		Answers: &protocoltest.Answers{ReqBody: &body},
	})
	if got.Reply == nil || got.Reply.Rewrite == nil {
		t.Fatalf("got %+v, want a rewrite\n%s", got, h.LogText())
	}
	if rb := got.Reply.Rewrite.Body; rb != body+"!" {
		t.Errorf("request body: got %d bytes, want %d (intact + '!')", len(rb), len(body)+1)
	}
	if len(got.Questions) != 1 || got.Questions[0].Kind != protocoltest.KindReqBody {
		t.Errorf("questions: got %v, want one req_body", got.Questions)
	}

	got = h.Run(t, runnertest.Exchange{
		Confs:    confs,
		Response: &protocoltest.RespCall{ID: 2, Status: 200, Headers: protocoltest.KVs("Content-Type", "text/plain")},
		Answers:  &protocoltest.Answers{RespBody: &body},
	})
	if got.Reply == nil || got.Reply.Resp == nil || got.Reply.Resp.Body != body+"?" {
		t.Fatalf("response body not intact")
	}
}

// TestOversizedReply: a reply that cannot fit in one frame fails that call
// with SERVICE_UNAVAILABLE; the runner keeps serving.
func TestOversizedReply(t *testing.T) {
	scripts := map[string][]byte{
		"huge.star": []byte(`
LIMITS = {"steps": 1000}
def on_request(req, conf):
    if req.path == "/huge":
        req.set_body("x" * (16 << 20))
`),
	}
	// No max_response_bytes, so that the frame limit is what stops it.
	h := runnertest.Start(t, scripts, engine.Config{Timeout: 20 * time.Second, MaxResponseBytes: -1})
	confs := []runnertest.Conf{{Name: "huge", Value: []byte(`{}`)}}
	got := h.Run(t, runnertest.Exchange{Confs: confs, Request: &protocoltest.ReqCall{ID: 1, Path: "/huge"}})
	if got.Reply.Err == nil || *got.Reply.Err != protocol.CodeServiceUnavailable {
		t.Fatalf("got %+v, want RPC_ERROR SERVICE_UNAVAILABLE\n%s", got.Reply, h.LogText())
	}
	if !strings.Contains(h.LogText(), "frame size limit") {
		t.Errorf("log does not explain the error:\n%s", h.LogText())
	}
	got = h.Run(t, runnertest.Exchange{Confs: confs, Request: &protocoltest.ReqCall{ID: 2, Path: "/small"}})
	if got.Reply.Action != "rewrite" || got.Reply.ID != 2 {
		t.Errorf("next call: got %+v, want an empty rewrite for id 2", got.Reply)
	}
}

// TestConcurrentIsolation: 64 connections send calls with per-call
// secrets; every reply carries its own id and only its own secret.
func TestConcurrentIsolation(t *testing.T) {
	scripts := map[string][]byte{
		"echo.star": []byte(`
def on_request(req, conf):
    secret = req.headers.get("x-secret")
    req.headers.set("x-seen", secret)
    req.set_response_header("x-seen", secret)
    if req.args.get("stop") == "1":
        return respond(200, body = secret)
`),
	}
	h := runnertest.Start(t, scripts, engine.Config{})
	token, err := h.Server.Dial(t).Prepare("k", protocoltest.KV{Name: "echo", Value: "{}"})
	if err != nil {
		t.Fatal(err)
	}
	const conns, calls = 64, 40
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := range conns {
		conn := h.Server.Dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				id := uint32(c*calls + i + 1)
				secret := fmt.Sprintf("secret-%d-%d", c, i)
				stop := fmt.Sprint(i % 2)
				r, _, err := conn.Call(protocoltest.ReqCall{
					ID: id, ConfToken: token, Path: "/",
					Headers: protocoltest.KVs("x-secret", secret),
					Args:    protocoltest.KVs("stop", stop),
				}, nil)
				if err != nil {
					errs <- err
					return
				}
				if r.ID != id {
					errs <- fmt.Errorf("call %d answered with id %d", id, r.ID)
					return
				}
				var seen []string
				switch {
				case r.Stop != nil:
					seen = append(seen, r.Stop.Body)
					for _, kv := range r.Stop.Headers {
						seen = append(seen, kv.Value)
					}
				case r.Rewrite != nil:
					for _, kv := range append(r.Rewrite.Headers, r.Rewrite.RespHeaders...) {
						seen = append(seen, kv.Value)
					}
				}
				for _, s := range seen {
					if s != secret {
						errs <- fmt.Errorf("call %d saw %q, want only %q", id, s, secret)
						return
					}
				}
				if len(seen) != 2 {
					errs <- fmt.Errorf("call %d: got %v, want the secret twice", id, seen)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if b := bytes.Count([]byte(h.LogText()), []byte("error")); b != 0 {
		t.Errorf("log has %d errors:\n%s", b, h.LogText())
	}
}
