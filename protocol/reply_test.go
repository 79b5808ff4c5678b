package protocol_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/protocoltest"
)

// Tests of the directly written HTTPReqCall and HTTPRespCall answers: every
// frame must decode, with the generated code, to what the reply says, and
// must match the reference Builder encoding (encode_ref_test.go).

// wantKVs is how the generated decoder reports the entries es: nil when
// there are none (the field is left out), and no value for an entry
// without HasValue, whatever its Value holds.
func wantKVs(es []protocol.Entry) []protocoltest.KV {
	if len(es) == 0 {
		return nil
	}
	out := make([]protocoltest.KV, len(es))
	for i, e := range es {
		out[i] = protocoltest.KV{Name: string(e.Name), NoValue: !e.HasValue}
		if e.HasValue {
			out[i].Value = string(e.Value)
		}
	}
	return out
}

// wantReqCall is the decoded answer r to HTTPReqCall id, from the rules of
// ReqCallReply: an unknown action passes through, the status is sent as a
// uint16, the path only with HasPath, fields of other actions are ignored.
func wantReqCall(id uint32, r *protocol.ReqCallReply) protocoltest.Reply {
	want := protocoltest.Reply{Type: protocol.TypeHTTPReqCall, ID: id, Action: "none"}
	switch r.Action {
	case protocol.ActionStop:
		want.Action = "stop"
		want.Stop = &protocoltest.Stop{Status: int(uint16(r.Status)), Headers: wantKVs(r.Headers), Body: string(r.Body)}
	case protocol.ActionRewrite:
		want.Action = "rewrite"
		want.Rewrite = &protocoltest.Rewrite{Headers: wantKVs(r.Headers), Args: wantKVs(r.Args),
			RespHeaders: wantKVs(r.RespHeaders), Body: string(r.Body)}
		if r.HasPath {
			want.Rewrite.Path = ptr(string(r.Path))
		}
	}
	return want
}

// wantRespCall is the decoded answer r to HTTPRespCall id.
func wantRespCall(id uint32, r *protocol.RespCallReply) protocoltest.Reply {
	return protocoltest.Reply{Type: protocol.TypeHTTPRespCall, ID: id,
		Resp: &protocoltest.Resp{Status: int(uint16(r.Status)), Headers: wantKVs(r.Headers), Body: string(r.Body)}}
}

// checkFrame checks an encoded reply frame: it decodes to want, and its
// payload decodes like ref, the reference Builder payload, and has the
// same bytes. Since the two encoders lay a message out the same way, a
// byte difference is a layout bug even when both decode alike.
func checkFrame(tb testing.TB, frame, ref []byte, want protocoltest.Reply) {
	tb.Helper()
	got := decodeFrame(tb, frame)
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("decoded %s, want %s", js(got), js(want))
	}
	refReply, err := protocoltest.DecodeReply(want.Type, ref)
	if err != nil {
		tb.Fatalf("reference payload: %v", err)
	}
	if !reflect.DeepEqual(got, refReply) {
		tb.Fatalf("decoded %s, the reference Builder payload decodes to %s", js(got), js(refReply))
	}
	if payload := frame[protocol.HeaderSize:]; !bytes.Equal(payload, ref) {
		tb.Fatalf("payload of %d bytes differs from the reference Builder payload of %d bytes %s",
			len(payload), len(ref), firstDifference(payload, ref))
	}
}

// firstDifference shows where got and want start to differ, with a few
// bytes of context.
func firstDifference(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(i-8, 0)
	return fmt.Sprintf("at byte %d:\n got …%x\nwant …%x", i, got[from:min(i+16, len(got))], want[from:min(i+16, len(want))])
}

// checkBounds checks that the size of frame's payload lies within the
// bounds the Encoder computed before writing it.
func checkBounds(tb testing.TB, frame []byte, lo, hi int) {
	tb.Helper()
	if n := len(frame) - protocol.HeaderSize; n < lo || n > hi {
		tb.Fatalf("payload of %d bytes, outside the size bounds [%d, %d]", n, lo, hi)
	}
}

// checkReqCall encodes r with e and checks the frame against wantReqCall,
// the reference encoding and the Encoder's size bounds.
func checkReqCall(tb testing.TB, e *protocol.Encoder, id uint32, r *protocol.ReqCallReply) {
	tb.Helper()
	frame, err := e.ReqCall(id, r)
	if err != nil {
		tb.Fatal(err)
	}
	checkFrame(tb, frame, referenceReqCall(id, r), wantReqCall(id, r))
	lo, hi := protocol.ReqCallBounds(r)
	checkBounds(tb, frame, lo, hi)
}

// checkRespCall is checkReqCall for RespCall.
func checkRespCall(tb testing.TB, e *protocol.Encoder, id uint32, r *protocol.RespCallReply) {
	tb.Helper()
	frame, err := e.RespCall(id, r)
	if err != nil {
		tb.Fatal(err)
	}
	checkFrame(tb, frame, referenceRespCall(id, r), wantRespCall(id, r))
	lo, hi := protocol.RespCallBounds(r)
	checkBounds(tb, frame, lo, hi)
}

// dirty fills the first 128 KiB of e's output buffer with 0xff bytes, so
// that the next frame is written over stale bytes: a byte it leaves
// unwritten, padding it does not zero, shows up as a difference from the
// reference.
func dirty(e *protocol.Encoder) { protocol.Dirty(e, 128<<10) }

type namedEntries struct {
	name string
	list []protocol.Entry
}

// entryLists are the header, argument and response header lists the
// shapes combine: absent, empty, deletes, empty names and values, an
// ignored value, bytes that are not text, odd and aligned lengths, and
// enough entries to alternate the two TextEntry vtables many times.
var entryLists = []namedEntries{
	{"nil", nil},
	{"empty", []protocol.Entry{}},
	{"one", []protocol.Entry{pe("x-user", "12345")}},
	{"delete", []protocol.Entry{pa("x-api-key")}},
	{"mixed", []protocol.Entry{pa("a"), pe("bb", "2"), pa("ccc"), pe("", ""), pe("dddd", "eeee"),
		{Name: []byte("ignored"), Value: []byte("v")}}},
	{"binary", []protocol.Entry{pe("\x00\xff", "\x00\n\xfe=\x00"), pe("é", "\x80"), pa("\x00")}},
	{"many", manyEntries(300)},
	// The most padding: every string is 3 bytes short of alignment.
	{"padded", repeatEntry(pe("", ""), 200)},
	{"padded deletes", repeatEntry(pa("abcd"), 200)},
}

func repeatEntry(e protocol.Entry, n int) []protocol.Entry {
	out := make([]protocol.Entry, n)
	for i := range out {
		out[i] = e
	}
	return out
}

// manyEntries returns n entries, every third one a delete.
func manyEntries(n int) []protocol.Entry {
	out := make([]protocol.Entry, n)
	for i := range out {
		out[i] = pe(fmt.Sprintf("x-h%d", i), fmt.Sprintf("%0*d", i%7, i))
		if i%3 == 0 {
			out[i] = pa(fmt.Sprintf("x-del-%d", i))
		}
	}
	return out
}

type namedBytes struct {
	name string
	b    []byte
}

// bodies are the bodies and paths the shapes combine.
var bodies = []namedBytes{
	{"nil", nil},
	{"empty", []byte{}},
	{"1B", []byte("x")},
	{"4B", []byte("abcd")},
	{"binary", []byte("\x00\xff\x00\n")},
	{"70000B", bytes.Repeat([]byte("0123456"), 10000)},
}

// largeBody is a body far bigger than the Encoder's pooled buffers.
var largeBody = bytes.Repeat([]byte("\x00large\xff"), 1<<17)

// replyIDs are the ids every shape is encoded with; 0 leaves the id field
// out.
var replyIDs = []uint32{0, 4194311, 0xffffffff}

type reqCallShape struct {
	name  string
	reply protocol.ReqCallReply
}

// reqCallShapes returns the HTTPReqCall answers the tests encode.
func reqCallShapes() []reqCallShape {
	shapes := []reqCallShape{
		{"pass", protocol.ReqCallReply{}},
		{"pass/stop fields ignored", protocol.ReqCallReply{Status: 403, Body: []byte("x"), Headers: entryLists[2].list,
			Path: []byte("/p"), HasPath: true, Args: entryLists[3].list}},
		{"unknown action 7", protocol.ReqCallReply{Action: 7, Status: 500, Headers: entryLists[2].list}},
		{"unknown action 255", protocol.ReqCallReply{Action: 255, Body: []byte("b")}},
		{"stop/large body", protocol.ReqCallReply{Action: protocol.ActionStop, Status: 413, Body: largeBody,
			Headers: entryLists[4].list}},
		{"rewrite/large body", protocol.ReqCallReply{Action: protocol.ActionRewrite, Body: largeBody,
			Path: []byte("/upload"), HasPath: true, Headers: entryLists[4].list}},
		{"rewrite/large values", protocol.ReqCallReply{Action: protocol.ActionRewrite,
			Headers: []protocol.Entry{{Name: largeBody[:70001], Value: largeBody, HasValue: true}},
			Args:    []protocol.Entry{pa(string(largeBody[:65537]))}}},
		{"rewrite/stop fields ignored", protocol.ReqCallReply{Action: protocol.ActionRewrite, Status: 403}},
		{"stop/rewrite fields ignored", protocol.ReqCallReply{Action: protocol.ActionStop, Path: []byte("/p"), HasPath: true,
			Args: entryLists[2].list, RespHeaders: entryLists[3].list}},
	}
	for _, status := range []int{0, 200, 403, 0xffff, 0x10000, 0x10193, -1} {
		for _, h := range entryLists {
			for _, b := range bodies {
				shapes = append(shapes, reqCallShape{fmt.Sprintf("stop/status=%d/headers=%s/body=%s", status, h.name, b.name),
					protocol.ReqCallReply{Action: protocol.ActionStop, Status: status, Headers: h.list, Body: b.b}})
			}
		}
	}
	return append(shapes, rewriteShapes()...)
}

// rewriteShapes returns, for every combination of present Rewrite fields
// (path, headers, args, resp_headers, body), a few variants of the
// present fields' contents; absent fields are left out in every way a
// ReqCallReply can say so.
func rewriteShapes() []reqCallShape {
	type variant struct {
		name                       string
		path                       []byte
		headers, args, respHeaders []protocol.Entry
		body                       []byte
		absentPath                 []byte // Path when HasPath is false: ignored
		absentList                 []protocol.Entry
		absentBody                 []byte
	}
	variants := []variant{
		{name: "small", path: []byte("/v2/hello"), headers: entryLists[2].list, args: entryLists[3].list,
			respHeaders: entryLists[2].list, body: []byte("abc")},
		{name: "edge", path: []byte{}, headers: entryLists[4].list, args: []protocol.Entry{pe("", "")},
			respHeaders: []protocol.Entry{pa("")}, body: []byte("abcd"),
			absentPath: []byte("/ignored"), absentList: []protocol.Entry{}, absentBody: []byte{}},
		{name: "binary", path: []byte("/\x00\xff/é"), headers: entryLists[5].list, args: entryLists[6].list,
			respHeaders: entryLists[5].list, body: []byte("\x00\x01\x02\x03\x04")},
	}
	var shapes []reqCallShape
	for mask := range 1 << 5 {
		for _, v := range variants {
			r := protocol.ReqCallReply{Action: protocol.ActionRewrite, Path: v.absentPath,
				Headers: v.absentList, Args: v.absentList, RespHeaders: v.absentList, Body: v.absentBody}
			name := "rewrite/" + v.name
			if mask&1 != 0 {
				r.Path, r.HasPath, name = v.path, true, name+"/path"
			}
			if mask&2 != 0 {
				r.Headers, name = v.headers, name+"/headers"
			}
			if mask&4 != 0 {
				r.Args, name = v.args, name+"/args"
			}
			if mask&8 != 0 {
				r.RespHeaders, name = v.respHeaders, name+"/resp_headers"
			}
			if mask&16 != 0 {
				r.Body, name = v.body, name+"/body"
			}
			shapes = append(shapes, reqCallShape{name, r})
		}
	}
	return shapes
}

func TestEncoderReqCallShapes(t *testing.T) {
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	for _, s := range reqCallShapes() {
		t.Run(s.name, func(t *testing.T) {
			for _, id := range replyIDs {
				dirty(e)
				checkReqCall(t, e, id, &s.reply)
			}
		})
	}
}

func TestEncoderRespCallShapes(t *testing.T) {
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	for _, status := range []int{0, 201, 0xffff, 0x10000, -1} {
		for _, h := range entryLists {
			for _, b := range bodies {
				r := protocol.RespCallReply{Status: status, Headers: h.list, Body: b.b}
				t.Run(fmt.Sprintf("status=%d/headers=%s/body=%s", status, h.name, b.name), func(t *testing.T) {
					for _, id := range replyIDs {
						dirty(e)
						checkRespCall(t, e, id, &r)
					}
				})
			}
		}
	}
	t.Run("large body", func(t *testing.T) {
		checkRespCall(t, e, 1, &protocol.RespCallReply{Status: 200, Headers: entryLists[4].list, Body: largeBody})
	})
	t.Run("large values", func(t *testing.T) {
		checkRespCall(t, e, 1, &protocol.RespCallReply{Headers: []protocol.Entry{
			{Name: largeBody[:70001], Value: largeBody, HasValue: true}, pa(string(largeBody[:65537]))}})
	})
}

// TestEncoderBenchReplies checks the replies the benchmarks encode.
func TestEncoderBenchReplies(t *testing.T) {
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	for _, r := range []*protocol.ReqCallReply{&rewriteOneHeader, &rewriteFull, &stopForbidden} {
		checkReqCall(t, e, 4194311, r)
	}
	checkRespCall(t, e, 4194312, &respCallTwoHeaders)
}

func TestEncodeReplyAllocs(t *testing.T) {
	skipAllocs(t)
	e := protocol.GetEncoder()
	defer protocol.PutEncoder(e)
	for name, r := range map[string]*protocol.ReqCallReply{
		"rewrite/1hdr": &rewriteOneHeader, "rewrite/full": &rewriteFull, "stop/403": &stopForbidden, "pass": {},
	} {
		encode := func() {
			if _, err := e.ReqCall(4194311, r); err != nil {
				t.Fatal(err)
			}
		}
		encode()
		if n := testing.AllocsPerRun(100, encode); n != 0 {
			t.Errorf("Encoder.ReqCall %s: %v allocs, want 0", name, n)
		}
	}
	encode := func() {
		if _, err := e.RespCall(4194312, &respCallTwoHeaders); err != nil {
			t.Fatal(err)
		}
	}
	encode()
	if n := testing.AllocsPerRun(100, encode); n != 0 {
		t.Errorf("Encoder.RespCall: %v allocs, want 0", n)
	}
}
