package protocol_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/valyala/bytebufferpool"

	"github.com/scriptrunner/scriptrunner/protocol"
)

// framesDir holds the golden frames shared by every package
// (testdata/frames/README.md lists their contents).
const framesDir = "../testdata/frames"

// goldenFrames lists every golden frame with its header, as
// testdata/frames/README.md gives them.
var goldenFrames = []struct {
	file string
	typ  protocol.Type
	size int // payload bytes
}{
	{"prepare_conf_req.bin", protocol.TypePrepareConf, 0xc4},
	{"prepare_conf_resp.bin", protocol.TypePrepareConf, 0x14},
	{"http_req_call_req.bin", protocol.TypeHTTPReqCall, 0x19c},
	{"http_req_call_resp_stop.bin", protocol.TypeHTTPReqCall, 0xbc},
	{"http_req_call_resp_rewrite.bin", protocol.TypeHTTPReqCall, 0x160},
	{"http_req_call_resp_pass.bin", protocol.TypeHTTPReqCall, 0x14},
	{"extra_info_var_req.bin", protocol.TypeExtraInfo, 0x34},
	{"extra_info_reqbody_req.bin", protocol.TypeExtraInfo, 0x20},
	{"extra_info_resp.bin", protocol.TypeExtraInfo, 0x24},
	{"http_resp_call_req.bin", protocol.TypeHTTPRespCall, 0x104},
	{"http_resp_call_resp.bin", protocol.TypeHTTPRespCall, 0xc4},
	{"error_conf_token_not_found.bin", protocol.TypeError, 0x14},
}

// readGolden returns the golden frame in file, header included.
func readGolden(tb testing.TB, file string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(framesDir, file))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// goldenPayload returns the payload of the golden frame in file.
func goldenPayload(tb testing.TB, file string) []byte {
	tb.Helper()
	return readGolden(tb, file)[protocol.HeaderSize:]
}

func TestGoldenFrameHeaders(t *testing.T) {
	entries, err := os.ReadDir(framesDir)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, g := range goldenFrames {
		listed[g.file] = true
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".bin" && !listed[e.Name()] {
			t.Errorf("golden frame %s is not covered by goldenFrames", e.Name())
		}
	}
	for _, g := range goldenFrames {
		t.Run(g.file, func(t *testing.T) {
			frame := readGolden(t, g.file)
			if len(frame) != protocol.HeaderSize+g.size {
				t.Fatalf("file is %d bytes, want %d", len(frame), protocol.HeaderSize+g.size)
			}
			r := bytes.NewReader(frame)
			buf := new(bytebufferpool.ByteBuffer)
			typ, err := protocol.ReadFrame(r, buf)
			if err != nil {
				t.Fatal(err)
			}
			if typ != g.typ || len(buf.B) != g.size {
				t.Errorf("ReadFrame = %v with %d bytes, want %v with %d", typ, len(buf.B), g.typ, g.size)
			}
			if !bytes.Equal(buf.B, frame[protocol.HeaderSize:]) {
				t.Error("payload differs from the file")
			}
			if _, err := protocol.ReadFrame(r, buf); err != io.EOF {
				t.Errorf("second ReadFrame: got %v, want io.EOF", err)
			}
		})
	}
}

// frame is one result of ReadFrame.
type frame struct {
	typ     protocol.Type
	payload string
	err     error
}

// readAll calls ReadFrame until it fails with anything but ErrEmptyFrame,
// which the server answers and then goes on reading. It checks after each
// frame that r has given exactly the frame's bytes, no more.
func readAll(tb testing.TB, r *countingReader) []frame {
	tb.Helper()
	var out []frame
	buf := new(bytebufferpool.ByteBuffer)
	for {
		before := r.n
		typ, err := protocol.ReadFrame(r, buf)
		f := frame{typ: typ, err: err}
		if err == nil {
			f.payload = string(buf.B)
			if got, want := r.n-before, int64(protocol.HeaderSize+len(buf.B)); got != want {
				tb.Fatalf("ReadFrame consumed %d bytes for a %d-byte frame", got, want)
			}
		}
		out = append(out, f)
		if errors.Is(err, protocol.ErrEmptyFrame) {
			if got := r.n - before; got != protocol.HeaderSize {
				tb.Fatalf("ReadFrame consumed %d bytes for an empty frame, want %d", got, protocol.HeaderSize)
			}
			continue
		}
		if err != nil {
			return out
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// sameFrames reports whether a and b hold the same frames and the same
// kinds of final error.
func sameFrames(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].typ != b[i].typ || a[i].payload != b[i].payload || errKind(a[i].err) != errKind(b[i].err) {
			return false
		}
	}
	return true
}

func errKind(err error) string {
	switch {
	case err == nil:
		return "nil"
	case err == io.EOF:
		return "EOF"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, protocol.ErrEmptyFrame):
		return "empty"
	}
	return "other: " + err.Error()
}

func allGoldenFrames(tb testing.TB) []byte {
	var all []byte
	for _, g := range goldenFrames {
		all = append(all, readGolden(tb, g.file)...)
	}
	return all
}

func TestReadFrameSplitReads(t *testing.T) {
	stream := allGoldenFrames(t)
	stream = append(stream, 2, 0, 0, 0) // an empty frame in the middle
	stream = append(stream, readGolden(t, "prepare_conf_req.bin")...)
	want := readAll(t, &countingReader{r: bytes.NewReader(stream)})
	if len(want) != len(goldenFrames)+3 || want[len(want)-1].err != io.EOF {
		t.Fatalf("contiguous read gave %d results ending in %v, want %d ending in io.EOF",
			len(want), want[len(want)-1].err, len(goldenFrames)+3)
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"OneByteReader", iotest.OneByteReader},
		{"HalfReader", iotest.HalfReader},
		{"DataErrReader", iotest.DataErrReader},
		{"split at 7", func(r io.Reader) io.Reader { return splitReader(stream, 7) }},
		{"split at 2", func(r io.Reader) io.Reader { return splitReader(stream, 2) }},
	}
	for _, tc := range readers {
		t.Run(tc.name, func(t *testing.T) {
			if got := readAll(t, &countingReader{r: tc.wrap(bytes.NewReader(stream))}); !sameFrames(got, want) {
				t.Errorf("got %d frames, want the %d of a contiguous read", len(got), len(want))
			}
		})
	}
}

// splitReader returns b in two reads split at i.
func splitReader(b []byte, i int) io.Reader {
	i = min(i, len(b))
	return io.MultiReader(bytes.NewReader(b[:i]), bytes.NewReader(b[i:]))
}

var errRead = errors.New("read failed")

func TestReadFrameErrors(t *testing.T) {
	payload := goldenPayload(t, "extra_info_resp.bin")
	tests := []struct {
		name    string
		r       io.Reader
		wantTyp protocol.Type
		want    error
	}{
		{"nothing", bytes.NewReader(nil), 0, io.EOF},
		{"one header byte", bytes.NewReader([]byte{2}), 0, io.ErrUnexpectedEOF},
		{"three header bytes", bytes.NewReader([]byte{2, 0, 0}), 0, io.ErrUnexpectedEOF},
		{"header only", bytes.NewReader([]byte{3, 0, 0, 36}), 3, io.ErrUnexpectedEOF},
		{"payload cut short", bytes.NewReader(append([]byte{3, 0, 0, 36}, payload[:20]...)), 3, io.ErrUnexpectedEOF},
		{"declared length larger than sent", bytes.NewReader(append([]byte{3, 0, 0, 37}, payload...)), 3, io.ErrUnexpectedEOF},
		{"empty frame", bytes.NewReader([]byte{2, 0, 0, 0}), 2, protocol.ErrEmptyFrame},
		{"reader error in header", iotest.ErrReader(errRead), 0, errRead},
		{"reader error in payload", io.MultiReader(bytes.NewReader([]byte{3, 0, 0, 36}), iotest.ErrReader(errRead)), 3, errRead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := bytebufferpool.ByteBuffer{B: []byte("stale")}
			typ, err := protocol.ReadFrame(tc.r, &buf)
			if !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
			if tc.want == io.EOF && err != io.EOF {
				t.Errorf("error = %#v, want io.EOF itself", err)
			}
			if typ != tc.wantTyp {
				t.Errorf("type = %v, want %v", typ, tc.wantTyp)
			}
			if errors.Is(err, protocol.ErrEmptyFrame) && len(buf.B) != 0 {
				t.Errorf("buffer holds %q after an empty frame, want nothing", buf.B)
			}
		})
	}
}

func TestReadFrameHugeDeclaredLength(t *testing.T) {
	// A peer that declares the maximum and sends little must not make
	// ReadFrame allocate the declared size.
	r := bytes.NewReader(append([]byte{2, 0xff, 0xff, 0xff}, make([]byte, 100)...))
	buf := new(bytebufferpool.ByteBuffer)
	if _, err := protocol.ReadFrame(r, buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error = %v, want io.ErrUnexpectedEOF", err)
	}
	if cap(buf.B) > 1<<20 {
		t.Errorf("buffer grew to %d bytes for 100 bytes received", cap(buf.B))
	}
}

func TestReadFrameMaxSize(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 32 MiB")
	}
	in := make([]byte, protocol.HeaderSize+protocol.MaxFrameSize)
	copy(in, []byte{byte(protocol.TypeHTTPReqCall), 0xff, 0xff, 0xff})
	in[len(in)-1] = 0x5a
	buf := new(bytebufferpool.ByteBuffer)
	typ, err := protocol.ReadFrame(iotest.HalfReader(bytes.NewReader(in)), buf)
	if err != nil {
		t.Fatal(err)
	}
	if typ != protocol.TypeHTTPReqCall || len(buf.B) != protocol.MaxFrameSize || buf.B[len(buf.B)-1] != 0x5a {
		t.Errorf("got type %v, %d bytes, want %v, %d bytes ending in 0x5a", typ, len(buf.B), protocol.TypeHTTPReqCall, protocol.MaxFrameSize)
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	stream := append(readGolden(t, "http_req_call_req.bin"), readGolden(t, "extra_info_resp.bin")...)
	r := bytes.NewReader(stream)
	buf := new(bytebufferpool.ByteBuffer)
	for _, g := range []string{"http_req_call_req.bin", "extra_info_resp.bin"} {
		if _, err := protocol.ReadFrame(r, buf); err != nil {
			t.Fatal(err)
		}
		if want := goldenPayload(t, g); !bytes.Equal(buf.B, want) {
			t.Errorf("%s: payload of %d bytes, want %d bytes", g, len(buf.B), len(want))
		}
	}
}

func TestAppendFrameHeader(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want []byte
		err  error
	}{
		{"one byte", 1, []byte{9, 2, 0, 0, 1}, nil},
		{"three bytes of length", 0x123456, []byte{9, 2, 0x12, 0x34, 0x56}, nil},
		{"maximum", protocol.MaxFrameSize, []byte{9, 2, 0xff, 0xff, 0xff}, nil},
		{"2^24", protocol.MaxFrameSize + 1, []byte{9}, protocol.ErrFrameTooLarge},
		{"empty", 0, []byte{9}, protocol.ErrEmptyFrame},
		{"negative", -1, []byte{9}, protocol.ErrEmptyFrame},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := protocol.AppendFrameHeader([]byte{9}, protocol.TypeHTTPReqCall, tc.n)
			if !errors.Is(err, tc.err) {
				t.Errorf("error = %v, want %v", err, tc.err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got % x, want % x", got, tc.want)
			}
		})
	}
}

// writeCounter records the Write calls made on it.
type writeCounter struct {
	bytes.Buffer
	calls int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.calls++
	return w.Buffer.Write(p)
}

func TestWriteFrame(t *testing.T) {
	payload := goldenPayload(t, "http_req_call_resp_stop.bin")
	var w writeCounter
	if err := protocol.WriteFrame(&w, protocol.TypeHTTPReqCall, payload); err != nil {
		t.Fatal(err)
	}
	if w.calls != 1 {
		t.Errorf("WriteFrame made %d Write calls, want 1", w.calls)
	}
	if want := readGolden(t, "http_req_call_resp_stop.bin"); !bytes.Equal(w.Bytes(), want) {
		t.Errorf("wrote % x, want % x", w.Bytes(), want)
	}

	for _, tc := range []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, protocol.ErrEmptyFrame},
		{"too large", make([]byte, protocol.MaxFrameSize+1), protocol.ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w writeCounter
			if err := protocol.WriteFrame(&w, protocol.TypeHTTPReqCall, tc.payload); !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
			if w.calls != 0 {
				t.Errorf("WriteFrame made %d Write calls, want 0", w.calls)
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[protocol.Type]string{
		protocol.TypeError: "RPC_ERROR", protocol.TypePrepareConf: "RPC_PREPARE_CONF",
		protocol.TypeHTTPReqCall: "RPC_HTTP_REQ_CALL", protocol.TypeExtraInfo: "RPC_EXTRA_INFO",
		protocol.TypeHTTPRespCall: "RPC_HTTP_RESP_CALL", protocol.Type(9): "type(9)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", byte(typ), got, want)
		}
	}
}
