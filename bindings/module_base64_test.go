package bindings

import "testing"

// RFC 4648 §10 test vectors, plus the URL-safe alphabet (§5) and raw
// (unpadded) forms.
func TestBase64(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "rfc4648 empty", expr: `base64.encode("")`, want: `""`},
		{name: "rfc4648 f", expr: `base64.encode("f")`, want: `"Zg=="`},
		{name: "rfc4648 fo", expr: `base64.encode("fo")`, want: `"Zm8="`},
		{name: "rfc4648 foo", expr: `base64.encode("foo")`, want: `"Zm9v"`},
		{name: "rfc4648 foob", expr: `base64.encode("foob")`, want: `"Zm9vYg=="`},
		{name: "rfc4648 fooba", expr: `base64.encode("fooba")`, want: `"Zm9vYmE="`},
		{name: "rfc4648 foobar", expr: `base64.encode("foobar")`, want: `"Zm9vYmFy"`},
		{name: "decode rfc4648 vectors", expr: `[base64.decode(s) for s in ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"]]`, want: `["", "f", "fo", "foo", "foob", "fooba", "foobar"]`},
		{name: "raw", expr: `base64.encode("f", pad = False)`, want: `"Zg"`},
		{name: "decode raw", expr: `(base64.decode("Zg"), base64.decode("Zm8"))`, want: `("f", "fo")`},
		{name: "bytes input", expr: `base64.encode(b"\xfb\xff")`, want: `"+/8="`},
		{name: "url alphabet", expr: `base64.encode(b"\xfb\xff", url = True)`, want: `"-_8="`},
		{name: "url raw", expr: `base64.encode(b"\xfb\xff", url = True, pad = False)`, want: `"-_8"`},
		{name: "decode url", expr: `base64.decode("-_8", url = True)`, want: `"\xfb\xff"`},
		{name: "decode url padded", expr: `base64.decode("-_8=", url = True)`, want: `"\xfb\xff"`},
		{name: "decode bytes input", expr: `base64.decode(b"Zm9v")`, want: `"foo"`},
		{name: "round trip", expr: `base64.decode(base64.encode("héllo\x00", url = True, pad = False), url = True)`, want: `"héllo\x00"`},
		{name: "wrong alphabet", expr: `base64.decode("-_8=")`, wantErr: "base64.decode: illegal base64 data at input byte 0"},
		{name: "bad padding", expr: `base64.decode("Zg=")`, wantErr: "base64.decode: illegal base64 data"},
		{name: "invalid with default", expr: `base64.decode("!!", default = None)`, want: `None`},
		{name: "valid with default", expr: `base64.decode("Zg", default = None)`, want: `"f"`},
		{name: "wrong type", expr: `base64.encode(1)`, wantErr: "base64.encode: for parameter data: got int, want str or bytes"},
	})
}
