package protocol_test

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/internal/A6"
	eipb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/ExtraInfo"
	reqpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPReqCall"
	resppb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/HTTPRespCall"
	pcpb "github.com/scriptrunner/scriptrunner/protocol/internal/A6/PrepareConf"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// The decode targets compare our checked decoders with the generated
// accessors, which trust every offset: whenever our decoder accepts a
// payload, the generated code must read the same values from it. Where the
// generated code panics, there is nothing to compare.

// addGoldenPayloads seeds f with the payload of every golden frame.
func addGoldenPayloads(f *testing.F) {
	for _, g := range goldenFrames {
		f.Add(goldenPayload(f, g.file))
	}
	f.Add(minimalTable)
}

// bval is a []byte with its nil-ness, to compare absent with empty.
type bval struct {
	S      string
	Absent bool
}

func bv(b []byte) bval { return bval{string(b), b == nil} }

// fields is the comparable content of a decoded message.
type fields struct {
	ID, ConfToken, Status uint32
	Method                uint8
	Key, Path, SrcIP      bval
	Conf, Args, Headers   []entry
}

func entriesOf(es []protocol.Entry) []entry {
	var out []entry
	for _, e := range es {
		out = append(out, entry{Name: string(e.Name), Value: string(e.Value), Absent: !e.HasValue})
	}
	return out
}

// genEntries reads n TextEntries with a generated accessor.
func genEntries(n int, at func(*A6.TextEntry, int) bool) []entry {
	var out []entry
	var e A6.TextEntry
	for i := range n {
		at(&e, i)
		v := e.Value()
		out = append(out, entry{Name: string(e.Name()), Value: string(v), Absent: v == nil})
	}
	return out
}

// generated runs read and reports whether it finished without a panic.
func generated(read func()) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	read()
	return true
}

// checkMalformed fails unless err wraps ErrMalformed.
func checkMalformed(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, protocol.ErrMalformed) {
		t.Fatalf("decode error %v does not wrap ErrMalformed", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	all := allGoldenFrames(f)
	for _, g := range goldenFrames {
		f.Add(readGolden(f, g.file), uint16(3))
	}
	f.Add(all, uint16(len(all)/2))
	f.Add(append([]byte{2, 0, 0, 0}, all...), uint16(4))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 1, 2, 3}, uint16(5))
	f.Add(all[:len(all)-3], uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		want := readAll(t, &countingReader{r: bytes.NewReader(data)})
		readers := map[string]io.Reader{
			"split":         splitReader(data, int(split)),
			"OneByteReader": iotest.OneByteReader(bytes.NewReader(data)),
			"HalfReader":    iotest.HalfReader(bytes.NewReader(data)),
		}
		for name, r := range readers {
			if got := readAll(t, &countingReader{r: r}); !sameFrames(got, want) {
				t.Errorf("%s: got %d results, want the %d of a contiguous read", name, len(got), len(want))
			}
		}
	})
}

func FuzzDecodePrepareConf(f *testing.F) {
	addGoldenPayloads(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req protocol.PrepareConfRequest
		if err := req.Decode(data); err != nil {
			checkMalformed(t, err)
			return
		}
		ours := fields{Key: bv(req.Key), Conf: entriesOf(req.Conf)}
		var gen fields
		if generated(func() {
			m := pcpb.GetRootAsReq(data, 0)
			gen = fields{Key: bv(m.Key()), Conf: genEntries(m.ConfLength(), m.Conf)}
		}) && !reflect.DeepEqual(ours, gen) {
			t.Errorf("decoded %+v, generated code reads %+v", ours, gen)
		}

		// Encode again with the generated builder and decode: same values.
		conf := make([]protocoltest.KV, len(req.Conf))
		for i, e := range req.Conf {
			conf[i] = protocoltest.KV{Name: string(e.Name), Value: string(e.Value), NoValue: !e.HasValue}
		}
		var again protocol.PrepareConfRequest
		if err := again.Decode(protocoltest.EncodePrepareConf(string(req.Key), conf...)); err != nil {
			t.Fatal(err)
		}
		if string(again.Key) != string(req.Key) || !reflect.DeepEqual(entriesOf(again.Conf), ours.Conf) {
			t.Errorf("round trip changed %+v into key %q conf %+v", ours, again.Key, entriesOf(again.Conf))
		}
	})
}

func FuzzDecodeHTTPReqCall(f *testing.F) {
	addGoldenPayloads(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req protocol.HTTPReqCallRequest
		if err := req.Decode(data); err != nil {
			checkMalformed(t, err)
			return
		}
		ours := fields{ID: req.ID, ConfToken: req.ConfToken, Method: uint8(req.Method), Path: bv(req.Path),
			SrcIP: bv(req.SrcIP), Args: entriesOf(req.Args), Headers: entriesOf(req.Headers)}
		var gen fields
		if generated(func() {
			m := reqpb.GetRootAsReq(data, 0)
			gen = fields{ID: m.Id(), ConfToken: m.ConfToken(), Method: uint8(m.Method()), Path: bv(m.Path()),
				SrcIP: bv(m.SrcIpBytes()), Args: genEntries(m.ArgsLength(), m.Args), Headers: genEntries(m.HeadersLength(), m.Headers)}
		}) && !reflect.DeepEqual(ours, gen) {
			t.Errorf("decoded %+v, generated code reads %+v", ours, gen)
		}
		roundTripReqCall(t, &req)
	})
}

// roundTripReqCall encodes req with the generated builder, when
// protocoltest.ReqCall can represent it, and checks that it decodes to the
// same values. An absent and an empty path are both sent as "".
func roundTripReqCall(t *testing.T, req *protocol.HTTPReqCallRequest) {
	t.Helper()
	ip, ok := netip.AddrFromSlice(req.SrcIP)
	if !ok && len(req.SrcIP) != 0 {
		return
	}
	rc := protocoltest.ReqCall{ID: req.ID, ConfToken: req.ConfToken, Method: req.Method.String(), Path: string(req.Path),
		SrcIP: ip, Args: kvsOf(req.Args), Headers: kvsOf(req.Headers)}
	payload, err := protocoltest.EncodeReqCall(rc)
	if err != nil {
		t.Fatal(err)
	}
	var again protocol.HTTPReqCallRequest
	if err := again.Decode(payload); err != nil {
		t.Fatal(err)
	}
	if again.ID != req.ID || again.ConfToken != req.ConfToken || again.Method != req.Method ||
		string(again.Path) != string(req.Path) || !bytes.Equal(again.SrcIP, req.SrcIP) ||
		!reflect.DeepEqual(entriesOf(again.Args), entriesOf(req.Args)) ||
		!reflect.DeepEqual(entriesOf(again.Headers), entriesOf(req.Headers)) {
		t.Errorf("round trip changed %+v into %+v", req, again)
	}
}

func kvsOf(es []protocol.Entry) []protocoltest.KV {
	if es == nil {
		return nil
	}
	out := make([]protocoltest.KV, len(es))
	for i, e := range es {
		out[i] = protocoltest.KV{Name: string(e.Name), Value: string(e.Value), NoValue: !e.HasValue}
	}
	return out
}

func FuzzDecodeHTTPRespCall(f *testing.F) {
	addGoldenPayloads(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var req protocol.HTTPRespCallRequest
		if err := req.Decode(data); err != nil {
			checkMalformed(t, err)
			return
		}
		ours := fields{ID: req.ID, ConfToken: req.ConfToken, Status: uint32(req.Status), Headers: entriesOf(req.Headers)}
		var gen fields
		if generated(func() {
			m := resppb.GetRootAsReq(data, 0)
			gen = fields{ID: m.Id(), ConfToken: m.ConfToken(), Status: uint32(m.Status()), Headers: genEntries(m.HeadersLength(), m.Headers)}
		}) && !reflect.DeepEqual(ours, gen) {
			t.Errorf("decoded %+v, generated code reads %+v", ours, gen)
		}

		payload, err := protocoltest.EncodeRespCall(protocoltest.RespCall{ID: req.ID, ConfToken: req.ConfToken,
			Status: int(req.Status), Headers: kvsOf(req.Headers)})
		if err != nil {
			t.Fatal(err)
		}
		var again protocol.HTTPRespCallRequest
		if err := again.Decode(payload); err != nil {
			t.Fatal(err)
		}
		if again.ID != req.ID || again.ConfToken != req.ConfToken || again.Status != req.Status ||
			!reflect.DeepEqual(entriesOf(again.Headers), ours.Headers) {
			t.Errorf("round trip changed %+v into %+v", req, again)
		}
	})
}

func FuzzDecodeExtraInfoResp(f *testing.F) {
	addGoldenPayloads(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var resp protocol.ExtraInfoResponse
		if err := resp.Decode(data); err != nil {
			checkMalformed(t, err)
			return
		}
		if resp.HasResult != (resp.Result != nil) {
			t.Fatalf("HasResult = %v with Result %#v", resp.HasResult, resp.Result)
		}
		var gen bval
		if generated(func() { gen = bv(eipb.GetRootAsResp(data, 0).ResultBytes()) }) && gen != bv(resp.Result) {
			t.Errorf("decoded %+v, generated code reads %+v", bv(resp.Result), gen)
		}
		var again protocol.ExtraInfoResponse
		if err := again.Decode(protocoltest.EncodeExtraInfo(resp.Result, resp.HasResult)); err != nil {
			t.Fatal(err)
		}
		if bv(again.Result) != bv(resp.Result) {
			t.Errorf("round trip changed %+v into %+v", bv(resp.Result), bv(again.Result))
		}
	})
}

// parseEntries turns fuzz text into entries: one per line, "name=value",
// or "name" for an absent value.
func parseEntries(s string) []protocol.Entry {
	if s == "" {
		return nil
	}
	var out []protocol.Entry
	for line := range strings.SplitSeq(s, "\n") {
		name, value, has := strings.Cut(line, "=")
		e := protocol.Entry{Name: []byte(name), HasValue: has}
		if has {
			e.Value = []byte(value)
		}
		out = append(out, e)
	}
	return out
}

// The encode targets write fuzzer-chosen replies and check that the frame
// decodes, with the generated code, to what the reply says, and that the
// payload is the one the reference Builder encoding produces
// (checkReqCall, checkRespCall).

func FuzzEncodeReqCall(f *testing.F) {
	f.Add(uint8(1), uint16(405), uint32(4194311), "", false, "X-Resp=foo\nX-Same=one\nX-Same=two", "", "", []byte("cat"))
	f.Add(uint8(2), uint16(0), uint32(4194311), "/v2/hello", true, "X-Delete\nX-Change=bar\nHost=example.org", "a=foo\nd\na=bar", "X-Resp=foo", []byte("abc"))
	f.Add(uint8(2), uint16(0), uint32(0), "", true, "=", "", "\n", []byte{})
	f.Add(uint8(0), uint16(0), uint32(1), "", false, "", "", "", []byte(nil))
	f.Fuzz(func(t *testing.T, action uint8, status uint16, id uint32, path string, hasPath bool,
		headers, args, respHeaders string, body []byte) {
		reply := protocol.ReqCallReply{Action: protocol.Action(action), Status: int(status), Body: body,
			Headers: parseEntries(headers), Args: parseEntries(args), RespHeaders: parseEntries(respHeaders)}
		if hasPath {
			reply.Path, reply.HasPath = []byte(path), true
		}
		e := protocol.GetEncoder()
		defer protocol.PutEncoder(e)
		protocol.Dirty(e, 64<<10)
		checkReqCall(t, e, id, &reply)
	})
}

func FuzzEncodeRespCall(f *testing.F) {
	f.Add(uint16(201), uint32(4194312), "Content-Type=application/json\nX-Same=one\nX-Same=two", []byte(`{"ok":true}`))
	f.Add(uint16(0), uint32(0), "", []byte(nil))
	f.Add(uint16(65535), uint32(1), "a\nb=", []byte{0})
	f.Fuzz(func(t *testing.T, status uint16, id uint32, headers string, body []byte) {
		reply := protocol.RespCallReply{Status: int(status), Headers: parseEntries(headers), Body: body}
		e := protocol.GetEncoder()
		defer protocol.PutEncoder(e)
		protocol.Dirty(e, 64<<10)
		checkRespCall(t, e, id, &reply)
	})
}
