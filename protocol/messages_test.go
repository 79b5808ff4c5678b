package protocol_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// entry is a comparable view of a protocol.Entry. Absent is true when the
// value field is absent, which must not be confused with an empty value.
type entry struct {
	Name, Value string
	Absent      bool
}

func kv(name, value string) entry { return entry{Name: name, Value: value} }
func noValue(name string) entry   { return entry{Name: name, Absent: true} }

// view converts decoded entries, checking that HasValue agrees with the
// nil-ness of Value, as with the generated accessors (protocol.md §3).
func view(tb testing.TB, es []protocol.Entry) []entry {
	tb.Helper()
	var out []entry
	for i, e := range es {
		if e.HasValue != (e.Value != nil) {
			tb.Errorf("entry %d (%s): HasValue = %v but Value = %#v", i, e.Name, e.HasValue, e.Value)
		}
		out = append(out, entry{Name: string(e.Name), Value: string(e.Value), Absent: !e.HasValue})
	}
	return out
}

func TestDecodeGoldenPrepareConf(t *testing.T) {
	var req protocol.PrepareConfRequest
	if err := req.Decode(goldenPayload(t, "prepare_conf_req.bin")); err != nil {
		t.Fatal(err)
	}
	if got, want := string(req.Key), "route#1#ext-plugin-pre-req#42"; got != want {
		t.Errorf("key = %q, want %q", got, want)
	}
	want := []entry{
		kv("auth", `{"header":"x-api-key"}`),
		kv("add-header", `{"name":"x-from-runner","value":"1"}`),
	}
	if got := view(t, req.Conf); !reflect.DeepEqual(got, want) {
		t.Errorf("conf = %+v, want %+v", got, want)
	}
}

func TestDecodeGoldenHTTPReqCall(t *testing.T) {
	var req protocol.HTTPReqCallRequest
	if err := req.Decode(goldenPayload(t, "http_req_call_req.bin")); err != nil {
		t.Fatal(err)
	}
	if req.ID != 4194311 || req.ConfToken != 233 {
		t.Errorf("id, conf_token = %d, %d, want 4194311, 233", req.ID, req.ConfToken)
	}
	if !bytes.Equal(req.SrcIP, []byte{127, 0, 0, 1}) {
		t.Errorf("src_ip = %v, want [127 0 0 1]", req.SrcIP)
	}
	if got, want := req.SrcAddr(), netip.MustParseAddr("127.0.0.1"); got != want {
		t.Errorf("SrcAddr() = %v, want %v", got, want)
	}
	if req.Method != 3 || req.Method.String() != "PUT" {
		t.Errorf("method = %d (%v), want 3 (PUT)", req.Method, req.Method)
	}
	if string(req.Path) != "/hello" {
		t.Errorf("path = %q, want %q", req.Path, "/hello")
	}
	wantArgs := []entry{kv("xx", "y"), kv("xx", "z"), kv("y", ""), noValue("z")}
	if got := view(t, req.Args); !reflect.DeepEqual(got, wantArgs) {
		t.Errorf("args = %+v, want %+v", got, wantArgs)
	}
	if req.Args[2].Value == nil {
		t.Error(`args[2] (y=""): Value is nil, want a non-nil empty slice`)
	}
	wantHeaders := []entry{
		kv("host", "localhost"), kv("x-req", "foo"), kv("x-req", "bar"),
		kv("x-resp", "cat"), kv("connection", "close"),
	}
	if got := view(t, req.Headers); !reflect.DeepEqual(got, wantHeaders) {
		t.Errorf("headers = %+v, want %+v", got, wantHeaders)
	}
}

func TestDecodeGoldenHTTPRespCall(t *testing.T) {
	var req protocol.HTTPRespCallRequest
	if err := req.Decode(goldenPayload(t, "http_resp_call_req.bin")); err != nil {
		t.Fatal(err)
	}
	if req.ID != 4194312 || req.Status != 200 || req.ConfToken != 233 {
		t.Errorf("id, status, conf_token = %d, %d, %d, want 4194312, 200, 233", req.ID, req.Status, req.ConfToken)
	}
	want := []entry{
		kv("Content-Type", "text/plain"), kv("Content-Length", "12"), kv("Server", "openresty"),
		kv("X-Same", "one"), kv("X-Same", "two"),
	}
	if got := view(t, req.Headers); !reflect.DeepEqual(got, want) {
		t.Errorf("headers = %+v, want %+v", got, want)
	}
}

func TestDecodeGoldenExtraInfo(t *testing.T) {
	var resp protocol.ExtraInfoResponse
	if err := resp.Decode(goldenPayload(t, "extra_info_resp.bin")); err != nil {
		t.Fatal(err)
	}
	if !resp.HasResult || string(resp.Result) != "127.0.0.1" {
		t.Errorf("result = %q (present %v), want %q", resp.Result, resp.HasResult, "127.0.0.1")
	}
}

func TestDecodeReusesStruct(t *testing.T) {
	var req protocol.HTTPReqCallRequest
	if err := req.Decode(goldenPayload(t, "http_req_call_req.bin")); err != nil {
		t.Fatal(err)
	}
	// A minimal request: every field absent.
	if err := req.Decode(minimalTable); err != nil {
		t.Fatal(err)
	}
	if req.ID != 0 || req.ConfToken != 0 || req.Method != 0 || req.Path != nil || req.SrcIP != nil ||
		len(req.Args) != 0 || len(req.Headers) != 0 {
		t.Errorf("after decoding an empty table: %+v, want the zero request", req)
	}
	if req.SrcAddr().IsValid() {
		t.Errorf("SrcAddr() = %v without src_ip, want the zero Addr", req.SrcAddr())
	}
}

// minimalTable is a root table with an empty vtable: every message type
// decodes it as all fields absent.
var minimalTable = []byte{8, 0, 0, 0, 4, 0, 4, 0, 4, 0, 0, 0}

func TestDecodeAbsentFields(t *testing.T) {
	var pc protocol.PrepareConfRequest
	var rc protocol.HTTPRespCallRequest
	var ei protocol.ExtraInfoResponse
	for name, decode := range map[string]func([]byte) error{
		"PrepareConf": pc.Decode, "HTTPRespCall": rc.Decode, "ExtraInfo": ei.Decode,
	} {
		if err := decode(minimalTable); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if pc.Key != nil || pc.Conf != nil || rc.ID != 0 || rc.Headers != nil || ei.HasResult || ei.Result != nil {
		t.Errorf("absent fields decoded as %+v, %+v, %+v", pc, rc, ei)
	}
}

// fb is a FlatBuffer payload under test, with the few accessors the
// malformed cases need to find where to break it. It assumes a valid buffer.
type fb []byte

func (b fb) u32(at int) int          { return int(binary.LittleEndian.Uint32(b[at:])) }
func (b fb) u16(at int) int          { return int(binary.LittleEndian.Uint16(b[at:])) }
func (b fb) put32(at int, v int)     { binary.LittleEndian.PutUint32(b[at:], uint32(v)) }
func (b fb) put16(at int, v int)     { binary.LittleEndian.PutUint16(b[at:], uint16(v)) }
func (b fb) root() int               { return b.u32(0) }
func (b fb) vtable(table int) int    { return table - int(int32(b.u32(table))) }
func (b fb) deref(at int) int        { return at + b.u32(at) }
func (b fb) slot(table, i int) int   { return b.vtable(table) + 4 + 2*i }
func (b fb) field(table, i int) int  { return table + b.u16(b.slot(table, i)) }
func (b fb) vector(table, i int) int { return b.deref(b.field(table, i)) }
func (b fb) elem(table, i, j int) int {
	return b.deref(b.vector(table, i) + 4 + 4*j)
}

// mutation breaks a copy of a valid payload.
type mutation struct {
	name string
	mut  func(b fb)
}

// structural mutations apply to the root table of any message.
var structural = []mutation{
	{"empty", nil},
	{"shorter than 8 bytes", nil},
	{"root offset past the end", func(b fb) { b.put32(0, len(b)) }},
	{"root offset in the last bytes", func(b fb) { b.put32(0, len(b)-2) }},
	{"root offset huge", func(b fb) { b.put32(0, 0xfffffffc) }},
	{"vtable before the buffer", func(b fb) { b.put32(b.root(), b.root()+2) }},
	{"vtable past the end", func(b fb) { b.put32(b.root(), -len(b)) }},
	{"vtable size odd", func(b fb) { b.put16(b.vtable(b.root()), 5) }},
	{"vtable size below 4", func(b fb) { b.put16(b.vtable(b.root()), 2) }},
	{"vtable size past the end", func(b fb) { b.put16(b.vtable(b.root()), 0xfffe) }},
	{"table size below 4", func(b fb) { b.put16(b.vtable(b.root())+2, 2) }},
	{"table size past the end", func(b fb) { b.put16(b.vtable(b.root())+2, 0xffff) }},
	{"field offset past the table", func(b fb) { b.put16(b.slot(b.root(), 0), b.u16(b.vtable(b.root())+2)) }},
}

// entryMutations break the first TextEntry of the vector in field slot.
func entryMutations(slot int) []mutation {
	return []mutation{
		{"vector offset past the end", func(b fb) { b.put32(b.field(b.root(), slot), 0x7ffffff0) }},
		{"vector claims 2^32-1 entries", func(b fb) { b.put32(b.vector(b.root(), slot), 0xffffffff) }},
		{"vector claims 2^22 entries", func(b fb) { b.put32(b.vector(b.root(), slot), 1<<22) }},
		{"vector one entry too long", func(b fb) {
			v := b.vector(b.root(), slot)
			b.put32(v, (len(b)-v-4)/4+1)
		}},
		{"entry offset past the end", func(b fb) { b.put32(b.vector(b.root(), slot)+4, len(b)) }},
		{"entry vtable past the end", func(b fb) {
			e := b.elem(b.root(), slot, 0)
			b.put32(e, e-len(b))
		}},
		{"entry vtable size odd", func(b fb) { b.put16(b.vtable(b.elem(b.root(), slot, 0)), 7) }},
		{"entry name offset past the end", func(b fb) {
			e := b.elem(b.root(), slot, 0)
			b.put32(b.field(e, 0), len(b))
		}},
		{"entry name claims 2^32-1 bytes", func(b fb) {
			e := b.elem(b.root(), slot, 0)
			b.put32(b.deref(b.field(e, 0)), 0xffffffff)
		}},
		{"entry value one byte too long", func(b fb) {
			e := b.elem(b.root(), slot, 0)
			s := b.deref(b.field(e, 1))
			b.put32(s, len(b)-s-4+1)
		}},
	}
}

// stringMutations break the string or byte vector in field slot.
func stringMutations(slot int) []mutation {
	return []mutation{
		{"offset past the end", func(b fb) { b.put32(b.field(b.root(), slot), len(b)) }},
		{"offset wraps around", func(b fb) { b.put32(b.field(b.root(), slot), 0xfffffffc) }},
		{"claims 2^32-1 bytes", func(b fb) { b.put32(b.vector(b.root(), slot), 0xffffffff) }},
		{"one byte too long", func(b fb) {
			s := b.vector(b.root(), slot)
			b.put32(s, len(b)-s-4+1)
		}},
	}
}

func prefixed(prefix string, ms []mutation) []mutation {
	out := make([]mutation, len(ms))
	for i, m := range ms {
		out[i] = mutation{prefix + ": " + m.name, m.mut}
	}
	return out
}

// decoders are the four APISIX → runner messages with a golden frame and
// the mutations specific to their fields.
func decoders() []struct {
	name      string
	file      string
	decode    func([]byte) error
	mutations []mutation
} {
	return []struct {
		name      string
		file      string
		decode    func([]byte) error
		mutations []mutation
	}{
		{"PrepareConf", "prepare_conf_req.bin", new(protocol.PrepareConfRequest).Decode, concat(
			prefixed("conf", entryMutations(0)),
			prefixed("key", stringMutations(1)),
		)},
		{"HTTPReqCall", "http_req_call_req.bin", new(protocol.HTTPReqCallRequest).Decode, concat(
			prefixed("src_ip", stringMutations(1)),
			prefixed("path", stringMutations(3)),
			prefixed("args", entryMutations(4)),
			prefixed("headers", entryMutations(5)),
			[]mutation{
				{"method 15", func(b fb) { b[b.field(b.root(), 2)] = 15 }},
				{"method 255", func(b fb) { b[b.field(b.root(), 2)] = 255 }},
				{"conf_token past the table", func(b fb) { b.put16(b.slot(b.root(), 6), 0xfff0) }},
			},
		)},
		{"HTTPRespCall", "http_resp_call_req.bin", new(protocol.HTTPRespCallRequest).Decode, concat(
			prefixed("headers", entryMutations(2)),
			[]mutation{{"status past the table", func(b fb) { b.put16(b.slot(b.root(), 1), b.u16(b.vtable(b.root())+2)-1) }}},
		)},
		{"ExtraInfo", "extra_info_resp.bin", new(protocol.ExtraInfoResponse).Decode, prefixed("result", stringMutations(0))},
	}
}

func concat(ms ...[]mutation) []mutation {
	var out []mutation
	for _, m := range ms {
		out = append(out, m...)
	}
	return out
}

// decodeNoPanic runs decode and turns a panic into a test failure.
func decodeNoPanic(t *testing.T, decode func([]byte) error, b []byte) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("decode panicked: %v", p)
		}
	}()
	return decode(b)
}

func TestDecodeMalformed(t *testing.T) {
	for _, d := range decoders() {
		golden := goldenPayload(t, d.file)
		for _, m := range append(append([]mutation{}, structural...), d.mutations...) {
			t.Run(d.name+"/"+m.name, func(t *testing.T) {
				b := fb(bytes.Clone(golden))
				switch {
				case m.name == "empty":
					b = nil
				case m.name == "shorter than 8 bytes":
					b = b[:7]
				default:
					m.mut(b)
				}
				if bytes.Equal(b, golden) {
					t.Fatal("mutation left the payload unchanged")
				}
				err := decodeNoPanic(t, d.decode, b)
				if !errors.Is(err, protocol.ErrMalformed) {
					t.Fatalf("error = %v, want one wrapping ErrMalformed", err)
				}
				if code := protocol.CodeOf(err); code != protocol.CodeBadRequest {
					t.Errorf("CodeOf(error) = %v, want BAD_REQUEST", code)
				}
			})
		}
	}
}

// TestDecodeTruncated decodes every prefix of each golden payload. Only the
// last bytes (a string's NUL terminator and padding, which nothing reads)
// may be cut without an error.
func TestDecodeTruncated(t *testing.T) {
	const unread = 4
	for _, d := range decoders() {
		t.Run(d.name, func(t *testing.T) {
			golden := goldenPayload(t, d.file)
			for n := range len(golden) {
				err := decodeNoPanic(t, d.decode, bytes.Clone(golden[:n]))
				if n < len(golden)-unread && !errors.Is(err, protocol.ErrMalformed) {
					t.Errorf("prefix of %d/%d bytes: error = %v, want one wrapping ErrMalformed", n, len(golden), err)
				}
			}
		})
	}
}

func TestDecodeErrorNamesField(t *testing.T) {
	b := fb(bytes.Clone(goldenPayload(t, "http_req_call_req.bin")))
	e := b.elem(b.root(), 5, 1)
	b.put32(b.field(e, 0), len(b))
	var req protocol.HTTPReqCallRequest
	err := req.Decode(b)
	if want := "protocol: decode HTTPReqCall.headers[1]: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %v, want it to start with %q", err, want)
	}
}

func TestMethod(t *testing.T) {
	names := []string{"GET", "HEAD", "POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE",
		"OPTIONS", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK", "PATCH", "TRACE"}
	for i, name := range names {
		m, ok := protocol.ParseMethod(name)
		if !ok || m != protocol.Method(i) || m.String() != name {
			t.Errorf("ParseMethod(%q) = %d, %v (String %q), want %d, true", name, m, ok, m.String(), i)
		}
	}
	for _, name := range []string{"PURGE", "get", ""} {
		if _, ok := protocol.ParseMethod(name); ok {
			t.Errorf("ParseMethod(%q) ok, want not ok", name)
		}
	}
	if got := protocol.Method(15).String(); got != "UNKNOWN" {
		t.Errorf("Method(15).String() = %q, want UNKNOWN", got)
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want protocol.Code
	}{
		{"conf token", protocol.ErrConfTokenNotFound, protocol.CodeConfTokenNotFound},
		{"wrapped conf token", fmt.Errorf("x: %w", protocol.ErrConfTokenNotFound), protocol.CodeConfTokenNotFound},
		{"bad request", protocol.BadRequest(errors.New("x")), protocol.CodeBadRequest},
		{"malformed", fmt.Errorf("x: %w", protocol.ErrMalformed), protocol.CodeBadRequest},
		{"plain", errors.New("x"), protocol.CodeServiceUnavailable},
		{"explicit", &protocol.Error{Code: protocol.CodeServiceUnavailable}, protocol.CodeServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := protocol.CodeOf(tc.err); got != tc.want {
				t.Errorf("CodeOf = %v, want %v", got, tc.want)
			}
		})
	}
	inner := errors.New("inner")
	if err := protocol.BadRequest(inner); !errors.Is(err, inner) || err.Error() != "BAD_REQUEST: inner" {
		t.Errorf("BadRequest(inner) = %q, want %q wrapping inner", err, "BAD_REQUEST: inner")
	}
	if got := protocol.Code(9).String(); got != "code(9)" {
		t.Errorf("Code(9).String() = %q, want code(9)", got)
	}
}

func TestDecodeEntryLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		ok   bool
	}{{"at the limit", protocol.MaxEntries, true}, {"over the limit", protocol.MaxEntries + 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := protocoltest.EncodeRespCall(protocoltest.RespCall{Headers: make([]protocoltest.KV, tc.n)})
			if err != nil {
				t.Fatal(err)
			}
			var req protocol.HTTPRespCallRequest
			err = req.Decode(payload)
			if tc.ok && (err != nil || len(req.Headers) != tc.n) {
				t.Errorf("got %d headers, error %v, want %d headers", len(req.Headers), err, tc.n)
			}
			if !tc.ok && !errors.Is(err, protocol.ErrMalformed) {
				t.Errorf("error = %v, want one wrapping ErrMalformed", err)
			}
		})
	}
}

func TestDecodeLargeExtraInfoResult(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16) // 5 MiB, more than a quarter of a frame
	var resp protocol.ExtraInfoResponse
	if err := resp.Decode(protocoltest.EncodeExtraInfo(body, true)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.Result, body) {
		t.Errorf("result of %d bytes, want the %d-byte body", len(resp.Result), len(body))
	}
}
