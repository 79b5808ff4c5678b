package protocoltest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

func TestSocketPath(t *testing.T) {
	path := protocoltest.SocketPath(t)
	if len(path) > 103 {
		t.Errorf("len(SocketPath) = %d, want <= 103", len(path))
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(filepath.Dir(path)); err != nil {
		t.Errorf("socket directory: %v", err)
	}
}

func TestKVJSON(t *testing.T) {
	kvs := []protocoltest.KV{{Name: "a", Value: "1"}, {Name: "y"}, {Name: "z", NoValue: true}}
	b, err := json.Marshal(kvs)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"name":"a","value":"1"},{"name":"y","value":""},{"name":"z"}]`
	if string(b) != want {
		t.Errorf("json.Marshal = %s, want %s", b, want)
	}
	var back []protocoltest.KV
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, kvs) {
		t.Errorf("round trip = %+v, want %+v", back, kvs)
	}
}

// entry is a comparable view of a protocol.Entry.
type entry struct {
	Name, Value string
	HasValue    bool
}

func view(es []protocol.Entry) []entry {
	var out []entry
	for _, e := range es {
		if e.HasValue != (e.Value != nil) {
			panic("HasValue disagrees with Value")
		}
		out = append(out, entry{string(e.Name), string(e.Value), e.HasValue})
	}
	return out
}

func TestEncodePrepareConf(t *testing.T) {
	tests := []struct {
		name     string
		conf     []protocoltest.KV
		wantConf []entry
	}{
		{name: "absent conf"},
		{name: "entries", conf: protocoltest.KVs("a", "1", "b", ""), wantConf: []entry{{"a", "1", true}, {"b", "", true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got protocol.PrepareConfRequest
			if err := got.Decode(protocoltest.EncodePrepareConf("k#1", tc.conf...)); err != nil {
				t.Fatal(err)
			}
			if string(got.Key) != "k#1" {
				t.Errorf("key = %q, want %q", got.Key, "k#1")
			}
			if g := view(got.Conf); !reflect.DeepEqual(g, tc.wantConf) {
				t.Errorf("conf = %+v, want %+v", g, tc.wantConf)
			}
		})
	}
}

func TestEncodeReqCall(t *testing.T) {
	tests := []struct {
		name    string
		req     protocoltest.ReqCall
		wantIP  []byte
		wantM   protocol.Method
		args    []entry
		headers []entry
	}{
		{
			name:   "ipv4",
			req:    protocoltest.ReqCall{ID: 9, ConfToken: 3, Method: "PUT", Path: "/p", SrcIP: netip.MustParseAddr("10.0.0.1")},
			wantIP: []byte{10, 0, 0, 1}, wantM: protocol.Method(3),
		},
		{
			name:   "ipv6 and defaults",
			req:    protocoltest.ReqCall{SrcIP: netip.MustParseAddr("::1")},
			wantIP: append(make([]byte, 15), 1),
		},
		{
			name: "absent and empty values",
			req: protocoltest.ReqCall{
				Args:    []protocoltest.KV{{Name: "y"}, {Name: "z", NoValue: true}},
				Headers: protocoltest.KVs("host", "h"),
			},
			args:    []entry{{"y", "", true}, {"z", "", false}},
			headers: []entry{{"host", "h", true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := protocoltest.EncodeReqCall(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var got protocol.HTTPReqCallRequest
			if err := got.Decode(payload); err != nil {
				t.Fatal(err)
			}
			if got.ID != tc.req.ID || got.ConfToken != tc.req.ConfToken || string(got.Path) != tc.req.Path {
				t.Errorf("id, token, path = %d, %d, %q, want %d, %d, %q",
					got.ID, got.ConfToken, got.Path, tc.req.ID, tc.req.ConfToken, tc.req.Path)
			}
			if got.Method != tc.wantM || !bytes.Equal(got.SrcIP, tc.wantIP) {
				t.Errorf("method, src_ip = %v, %v, want %v, %v", got.Method, got.SrcIP, tc.wantM, tc.wantIP)
			}
			if g := view(got.Args); !reflect.DeepEqual(g, tc.args) {
				t.Errorf("args = %+v, want %+v", g, tc.args)
			}
			if g := view(got.Headers); !reflect.DeepEqual(g, tc.headers) {
				t.Errorf("headers = %+v, want %+v", g, tc.headers)
			}
		})
	}
}

func TestEncodeRequestErrors(t *testing.T) {
	if _, err := protocoltest.EncodeReqCall(protocoltest.ReqCall{Method: "PURGE"}); err == nil {
		t.Error("EncodeReqCall(PURGE): got nil error, want an error")
	}
	if _, err := protocoltest.EncodeRespCall(protocoltest.RespCall{Status: 70000}); err == nil {
		t.Error("EncodeRespCall(status 70000): got nil error, want an error")
	}
}

func TestEncodeRespCallAndExtraInfo(t *testing.T) {
	payload, err := protocoltest.EncodeRespCall(protocoltest.RespCall{ID: 4, ConfToken: 5, Status: 502, Headers: protocoltest.KVs("A", "b")})
	if err != nil {
		t.Fatal(err)
	}
	var rc protocol.HTTPRespCallRequest
	if err := rc.Decode(payload); err != nil {
		t.Fatal(err)
	}
	if rc.ID != 4 || rc.ConfToken != 5 || rc.Status != 502 || !reflect.DeepEqual(view(rc.Headers), []entry{{"A", "b", true}}) {
		t.Errorf("decoded %+v, want id 4, token 5, status 502, headers A=b", rc)
	}
	for _, tc := range []struct {
		name   string
		result []byte
		ok     bool
	}{{"absent", nil, false}, {"empty", nil, true}, {"value", []byte("v"), true}} {
		t.Run(tc.name, func(t *testing.T) {
			var got protocol.ExtraInfoResponse
			if err := got.Decode(protocoltest.EncodeExtraInfo(tc.result, tc.ok)); err != nil {
				t.Fatal(err)
			}
			if got.HasResult != tc.ok || string(got.Result) != string(tc.result) {
				t.Errorf("got %q, %v, want %q, %v", got.Result, got.HasResult, tc.result, tc.ok)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// js renders v for failure messages.
func js(v any) string {
	b, err := protocoltest.JSON(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestDecodeReply(t *testing.T) {
	enc := protocol.GetEncoder()
	defer protocol.PutEncoder(enc)
	frame := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Clone(b)
	}
	tests := []struct {
		name  string
		frame []byte
		want  protocoltest.Reply
	}{
		{"error", bytes.Clone(enc.Error(protocol.CodeConfTokenNotFound)),
			protocoltest.Reply{Type: protocol.TypeError, Err: ptr(protocol.CodeConfTokenNotFound)}},
		{"prepare", bytes.Clone(enc.PrepareConf(77)), protocoltest.Reply{Type: protocol.TypePrepareConf, Token: 77}},
		{"pass", frame(enc.ReqCall(5, &protocol.ReqCallReply{})),
			protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 5, Action: "none"}},
		{"stop", frame(enc.ReqCall(5, &protocol.ReqCallReply{Action: protocol.ActionStop, Status: 403,
			Headers: []protocol.Entry{{Name: []byte("X"), Value: []byte("1"), HasValue: true}}, Body: []byte("no")})),
			protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 5, Action: "stop",
				Stop: &protocoltest.Stop{Status: 403, Headers: protocoltest.KVs("X", "1"), Body: "no"}}},
		{"rewrite", frame(enc.ReqCall(6, &protocol.ReqCallReply{Action: protocol.ActionRewrite, HasPath: true,
			Args: []protocol.Entry{{Name: []byte("d")}}})),
			protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 6, Action: "rewrite",
				Rewrite: &protocoltest.Rewrite{Path: ptr(""), Args: []protocoltest.KV{{Name: "d", NoValue: true}}}}},
		{"resp", frame(enc.RespCall(8, &protocol.RespCallReply{Status: 201, Body: []byte("b")})),
			protocoltest.Reply{Type: protocol.TypeHTTPRespCall, ID: 8, Resp: &protocoltest.Resp{Status: 201, Body: "b"}}},
		{"var", bytes.Clone(enc.ExtraInfo(protocol.InfoVar, "remote_addr")),
			protocoltest.Reply{Type: protocol.TypeExtraInfo, Question: &protocoltest.Question{Kind: "var", Name: "remote_addr"}}},
		{"resp body", bytes.Clone(enc.ExtraInfo(protocol.InfoRespBody, "")),
			protocoltest.Reply{Type: protocol.TypeExtraInfo, Question: &protocoltest.Question{Kind: "resp_body"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := protocoltest.DecodeReply(protocol.Type(tc.frame[0]), tc.frame[protocol.HeaderSize:])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %s, want %s", js(got), js(tc.want))
			}
		})
	}
}

func TestQuestionKindsMatchProtocol(t *testing.T) {
	for kind, want := range map[protocol.InfoKind]string{
		protocol.InfoVar: protocoltest.KindVar, protocol.InfoReqBody: protocoltest.KindReqBody, protocol.InfoRespBody: protocoltest.KindRespBody,
	} {
		if kind.String() != want {
			t.Errorf("%d.String() = %q, want %q", kind, kind.String(), want)
		}
	}
}

func TestReplyJSON(t *testing.T) {
	r := protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 7, Action: "stop",
		Stop: &protocoltest.Stop{Status: 403, Headers: []protocoltest.KV{{Name: "x-z", NoValue: true}, {Name: "a", Value: "<&>"}}, Body: "denied"}}
	got, err := protocoltest.JSON(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
  "action": "stop",
  "id": 7,
  "stop": {
    "body": "denied",
    "headers": [
      {
        "name": "x-z"
      },
      {
        "name": "a",
        "value": "<&>"
      }
    ],
    "status": 403
  },
  "type": "RPC_HTTP_REQ_CALL"
}
`
	if string(got) != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
	norm, err := protocoltest.JSON(json.RawMessage(`{"type":"RPC_ERROR","error":"BAD_REQUEST"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := js(protocoltest.Reply{Type: protocol.TypeError, Err: ptr(protocol.CodeBadRequest)}); string(norm) != want {
		t.Errorf("normalised %s, want %s", norm, want)
	}
}

func TestDecodeReplyMalformed(t *testing.T) {
	tests := []struct {
		name    string
		t       protocol.Type
		payload []byte
	}{
		{"empty", protocol.TypeHTTPReqCall, nil},
		{"root out of range", protocol.TypeHTTPReqCall, []byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}},
		{"unknown type", protocol.Type(9), make([]byte, 16)},
		{"stop without table", protocol.TypeHTTPReqCall, stopWithoutTable()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := protocoltest.DecodeReply(tc.t, tc.payload); err == nil {
				t.Error("got nil error, want an error")
			}
		})
	}
}

// stopWithoutTable is an HTTPReqCall.Resp with action_type Stop and no
// action table: root offset 12, vtable at 4 (size 8, table 8, id absent,
// action_type at 4, action absent), table at 12.
func stopWithoutTable() []byte {
	return []byte{12, 0, 0, 0, 8, 0, 8, 0, 0, 0, 4, 0, 8, 0, 0, 0, 1, 0, 0, 0}
}

type handler struct{}

func (handler) PrepareConf(req *protocol.PrepareConfRequest) (uint32, error) {
	if len(req.Conf) == 0 {
		return 0, protocol.BadRequest(errors.New("no conf"))
	}
	return 42, nil
}

func (handler) HTTPReqCall(c *protocol.Call, req *protocol.HTTPReqCallRequest, reply *protocol.ReqCallReply) error {
	v, ok, err := c.ExtraInfo(protocol.InfoVar, "remote_addr")
	if err != nil {
		return err
	}
	addr := string(v) // v is overwritten by the next question
	body, _, err := c.ExtraInfo(protocol.InfoReqBody, "")
	if err != nil {
		return err
	}
	reply.Action = protocol.ActionStop
	reply.Status = 200
	reply.Body = append(reply.Body, strings.Join([]string{addr, string(body), string(req.Path)}, "|")...)
	if !ok {
		reply.Status = 404
	}
	return nil
}

func (handler) HTTPRespCall(c *protocol.Call, req *protocol.HTTPRespCallRequest, reply *protocol.RespCallReply) error {
	body, _, err := c.ExtraInfo(protocol.InfoRespBody, "")
	if err != nil {
		return err
	}
	reply.Status = int(req.Status) + 1
	reply.Body = append(reply.Body, body...)
	return nil
}

func TestConnExchange(t *testing.T) {
	srv := protocoltest.NewServer(t, handler{})
	c := srv.Dial(t)
	token, err := c.Prepare("k", protocoltest.KVs("p", "{}")...)
	if err != nil || token != 42 {
		t.Fatalf("Prepare = %d, %v, want 42, nil", token, err)
	}
	var rpcErr *protocoltest.RPCError
	if _, err := c.Prepare("k"); !errors.As(err, &rpcErr) || rpcErr.Code != protocol.CodeBadRequest {
		t.Fatalf("Prepare without conf: got %v, want RPCError BAD_REQUEST", err)
	}

	answers := &protocoltest.Answers{Vars: map[string]string{"remote_addr": "1.2.3.4"}, ReqBody: ptr("in"), RespBody: ptr("out")}
	reply, qs, err := c.Call(protocoltest.ReqCall{ID: 3, ConfToken: token, Path: "/x"}, answers.Answer)
	if err != nil {
		t.Fatal(err)
	}
	wantQs := []protocoltest.Question{{Kind: "var", Name: "remote_addr"}, {Kind: "req_body"}}
	if !reflect.DeepEqual(qs, wantQs) {
		t.Errorf("questions = %+v, want %+v", qs, wantQs)
	}
	want := protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: 3, Action: "stop", Stop: &protocoltest.Stop{Status: 200, Body: "1.2.3.4|in|/x"}}
	if !reflect.DeepEqual(reply, want) {
		t.Errorf("reply = %s, want %s", js(reply), js(want))
	}

	reply, _, err = c.Call(protocoltest.ReqCall{ID: 4, Path: "/y"}, nil)
	if err != nil || reply.Stop == nil || reply.Stop.Status != 404 || reply.Stop.Body != "||/y" {
		t.Errorf("call with absent answers = %s, %v, want stop 404 with body ||/y", js(reply), err)
	}

	reply, qs, err = c.RespCall(protocoltest.RespCall{ID: 5, Status: 200}, answers.Answer)
	if err != nil {
		t.Fatal(err)
	}
	want = protocoltest.Reply{Type: protocol.TypeHTTPRespCall, ID: 5, Resp: &protocoltest.Resp{Status: 201, Body: "out"}}
	if !reflect.DeepEqual(reply, want) || len(qs) != 1 || qs[0].Kind != "resp_body" {
		t.Errorf("RespCall = %s, %+v, want %s and one resp_body question", js(reply), qs, js(want))
	}
}

// fakeRunner reads one frame, answers it with the raw bytes in replies and
// closes its end of the connection.
func fakeRunner(t *testing.T, replies ...[]byte) *protocoltest.Conn {
	t.Helper()
	apisix, runner := net.Pipe()
	t.Cleanup(func() { apisix.Close() })
	go func() {
		defer runner.Close()
		rc := protocoltest.NewConn(runner)
		if _, _, err := rc.ReadFrame(); err != nil {
			return
		}
		for _, r := range replies {
			if rc.WriteRaw(r) != nil {
				return
			}
		}
	}()
	return protocoltest.NewConn(apisix)
}

func TestConnRejects(t *testing.T) {
	enc := protocol.GetEncoder()
	defer protocol.PutEncoder(enc)
	badKind := bytes.Clone(enc.ExtraInfo(protocol.InfoKind(7), ""))
	tests := []struct {
		name  string
		reply []byte
	}{
		{"unexpected type", bytes.Clone(enc.PrepareConf(1))},
		{"unknown ExtraInfo kind", badKind},
		{"truncated frame", []byte{2, 0, 0, 9, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeRunner(t, tc.reply)
			if _, _, err := c.Call(protocoltest.ReqCall{}, nil); err == nil {
				t.Error("Call: got nil error, want an error")
			}
		})
	}
}
