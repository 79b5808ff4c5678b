package bindings

import "testing"

// Digests of "abc" (RFC 1321 A.5, FIPS 180-2 appendices) and of "".
func TestHashlibDigests(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "md5 empty", expr: `hashlib.md5("")`, want: `"d41d8cd98f00b204e9800998ecf8427e"`},
		{name: "md5 abc", expr: `hashlib.md5("abc")`, want: `"900150983cd24fb0d6963f7d28e17f72"`},
		{name: "sha1 abc", expr: `hashlib.sha1("abc")`, want: `"a9993e364706816aba3e25717850c26c9cd0d89d"`},
		{name: "sha256 empty", expr: `hashlib.sha256("")`, want: `"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"`},
		{name: "sha256 abc", expr: `hashlib.sha256("abc")`, want: `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`},
		{name: "sha512 abc", expr: `hashlib.sha512("abc")`, want: `"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"`},
		{name: "bytes input", expr: `hashlib.sha256(b"abc")`, want: `"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"`},
		{name: "md5 bytes", expr: `(type(hashlib.md5_bytes("abc")), base64.encode(hashlib.md5_bytes("abc")))`, want: `("bytes", "kAFQmDzST7DWlj99KOF/cg==")`},
		{name: "bytes forms match hex", expr: `[base64.encode(f("abc")) for f in [hashlib.sha1_bytes, hashlib.sha256_bytes, hashlib.sha512_bytes]]`, want: `["qZk+NkcGgWq6PiVxeFDCbJzQ2J0=", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=", "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="]`},
		{name: "wrong type", expr: `hashlib.sha256(None)`, wantErr: "hashlib.sha256: for parameter data: got NoneType, want str or bytes"},
	})
}

// HMAC test cases 1 and 2 of RFC 2202 (MD5, SHA-1) and RFC 4231 (SHA-256,
// SHA-512).
func TestHashlibHMAC(t *testing.T) {
	const jefe = `"Jefe", "what do ya want for nothing?"`
	runModCases(t, modNow, nil, []modCase{
		{name: "rfc2202 md5 1", expr: `hashlib.hmac("md5", b"\x0b" * 16, "Hi There")`, want: `"9294727a3638bb1c13f48ef8158bfc9d"`},
		{name: "rfc2202 md5 2", expr: `hashlib.hmac("md5", ` + jefe + `)`, want: `"750c783e6ab0b503eaa86e310a5db738"`},
		{name: "rfc2202 sha1 1", expr: `hashlib.hmac("sha1", b"\x0b" * 20, "Hi There")`, want: `"b617318655057264e28bc0b6fb378c8ef146be00"`},
		{name: "rfc2202 sha1 2", expr: `hashlib.hmac("sha1", ` + jefe + `)`, want: `"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"`},
		{name: "rfc4231 sha256 1", expr: `hashlib.hmac("sha256", "\x0b" * 20, "Hi There")`, want: `"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"`},
		{name: "rfc4231 sha256 2", expr: `hashlib.hmac("sha256", ` + jefe + `)`, want: `"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"`},
		{name: "rfc4231 sha512 1", expr: `hashlib.hmac("sha512", b"\x0b" * 20, b"Hi There")`, want: `"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"`},
		{name: "rfc4231 sha512 2", expr: `hashlib.hmac("sha512", ` + jefe + `)`, want: `"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"`},
		{name: "bytes form", expr: `base64.encode(hashlib.hmac_bytes("sha256", ` + jefe + `))`, want: `"W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="`},
		{name: "unknown alg", expr: `hashlib.hmac("sha3", "k", "m")`, wantErr: `hashlib.hmac: got alg "sha3", want one of md5, sha1, sha256, sha512`},
		{name: "missing msg", expr: `hashlib.hmac("sha256", "k")`, wantErr: "hashlib.hmac: missing argument for msg"},
	})
}

func TestHashlibEqual(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "equal", expr: `hashlib.equal("abc", "abc")`, want: `True`},
		{name: "different", expr: `hashlib.equal("abc", "abd")`, want: `False`},
		{name: "different lengths", expr: `hashlib.equal("abc", "ab")`, want: `False`},
		{name: "empty", expr: `hashlib.equal("", "")`, want: `True`},
		{name: "str and bytes", expr: `hashlib.equal("abc", b"abc")`, want: `True`},
		{name: "hmac check", expr: `hashlib.equal(hashlib.hmac("sha256", "Jefe", "what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")`, want: `True`},
		{name: "wrong type", expr: `hashlib.equal("a", 1)`, wantErr: "hashlib.equal: for parameter b: got int, want str or bytes"},
	})
}
