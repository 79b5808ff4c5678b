package bindings

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.starlark.net/starlark"
)

// The RFC 7519 §3.1 example JWT: HS256 with the key of RFC 7515
// Appendix A.1, claims {"iss":"joe","exp":1300819380,
// "http://example.com/is_root":true} (exp is 2011-03-22T18:43:00Z).
const (
	rfc7519Token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7515Key = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	// rfc7519Claims is the repr of the example's claims.
	rfc7519Claims = `{"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}`
)

// before and after the RFC 7519 example's exp.
var (
	rfcValid   = time.Date(2011, 3, 22, 18, 0, 0, 0, time.UTC)
	rfcExpired = time.Date(2011, 3, 22, 19, 0, 0, 0, time.UTC)
)

func TestJWTDecode(t *testing.T) {
	extra := starlark.StringDict{"TOKEN": starlark.String(rfc7519Token)}
	runModCases(t, rfcValid, extra, []modCase{
		{name: "rfc7519 header", expr: `jwt.decode(TOKEN)["header"]`, want: `{"typ": "JWT", "alg": "HS256"}`},
		{name: "rfc7519 claims", expr: `jwt.decode(TOKEN)["claims"]`, want: rfc7519Claims},
		{name: "no signature check", expr: `jwt.decode(TOKEN[:-3] + "AAA")["claims"]["iss"]`, want: `"joe"`},
		{name: "two parts", expr: `jwt.decode("a.b")`, wantErr: "jwt.decode: token is malformed: want three dot-separated parts"},
		{name: "bad base64", expr: `jwt.decode("!.e30.x")`, wantErr: "jwt.decode: token is malformed: header: illegal base64 data"},
		{name: "not an object", expr: `jwt.decode("e30.WzFd.x")`, wantErr: "jwt.decode: token is malformed: claims is a JSON list, want an object"},
		{name: "bad json", expr: `jwt.decode("e30.e30x.x")`, wantErr: "jwt.decode: token is malformed: claims"},
		{name: "default", expr: `jwt.decode("garbage", default = None)`, want: `None`},
	})
}

func TestJWTVerifyHS256(t *testing.T) {
	extra := starlark.StringDict{
		"TOKEN": starlark.String(rfc7519Token),
		"KEY":   starlark.String(rfc7515Key),
	}
	const key = `k = base64.decode(KEY, url = True)`
	cases := []struct {
		now time.Time
		modCase
	}{
		{rfcValid, modCase{name: "rfc7519 example", setup: key, expr: `jwt.verify(TOKEN, k)`, want: rfc7519Claims}},
		{rfcValid, modCase{name: "issuer", setup: key, expr: `jwt.verify(TOKEN, k, issuer = "joe")["iss"]`, want: `"joe"`}},
		{rfcValid, modCase{name: "required present", setup: key, expr: `jwt.verify(TOKEN, k, required = ["iss", "exp"])["exp"]`, want: `1300819380`}},
		{rfcValid, modCase{name: "try_verify valid", setup: key, expr: `jwt.try_verify(TOKEN, k)[1]`, want: `None`}},
		{rfcExpired, modCase{name: "expired", setup: key, expr: `jwt.verify(TOKEN, k)`, wantErr: "jwt.verify: token has invalid claims: token is expired"}},
		{rfcExpired, modCase{name: "expired within leeway", setup: key, expr: `jwt.verify(TOKEN, k, leeway = 3600)["iss"]`, want: `"joe"`}},
		{rfcExpired, modCase{name: "leeway as duration", setup: key, expr: `jwt.verify(TOKEN, k, leeway = time.hour)["iss"]`, want: `"joe"`}},
		{rfcExpired, modCase{name: "leeway too short", setup: key, expr: `jwt.verify(TOKEN, k, leeway = 60)`, wantErr: "token is expired"}},
		{rfcExpired, modCase{name: "try_verify expired", setup: key, expr: `jwt.try_verify(TOKEN, k)`, want: `(None, "token has invalid claims: token is expired")`}},
		{rfcValid, modCase{name: "wrong key", expr: `jwt.verify(TOKEN, "not the key")`, wantErr: "jwt.verify: token signature is invalid: signature is invalid"}},
		{rfcValid, modCase{name: "tampered claims", setup: key, expr: `jwt.verify(TOKEN.replace("eyJpc3MiOiJqb2Ui", "eyJpc3MiOiJtYWxsb3J5Ii"), k)`, wantErr: "jwt.verify: token"}},
		{rfcValid, modCase{name: "wrong issuer", setup: key, expr: `jwt.verify(TOKEN, k, issuer = "ann")`, wantErr: "token has invalid issuer"}},
		{rfcValid, modCase{name: "audience missing", setup: key, expr: `jwt.verify(TOKEN, k, audience = "api")`, wantErr: "jwt.verify: token has invalid claims: token is missing required claim: aud claim is required"}},
		{rfcValid, modCase{name: "required missing", setup: key, expr: `jwt.verify(TOKEN, k, required = ["sub"])`, wantErr: "jwt.verify: token is missing required claim: sub"}},
		{rfcValid, modCase{name: "try_verify required missing", setup: key, expr: `jwt.try_verify(TOKEN, k, required = ["sub"])`, want: `(None, "token is missing required claim: sub")`}},
		{rfcValid, modCase{name: "other hmac alg asked", setup: key, expr: `jwt.verify(TOKEN, k, alg = "HS512")`, wantErr: "jwt.verify: token signature is invalid: signing method HS256 is invalid"}},
		{rfcValid, modCase{name: "empty key", expr: `jwt.verify(TOKEN, "")`, wantErr: "jwt.verify: got an empty key, want the HS256 secret"}},
		{rfcValid, modCase{name: "empty key in try_verify", expr: `jwt.try_verify(TOKEN, "")`, wantErr: "jwt.try_verify: got an empty key"}},
		{rfcValid, modCase{name: "negative leeway", setup: key, expr: `jwt.verify(TOKEN, k, leeway = -1)`, wantErr: "jwt.verify: for parameter leeway: got -1, want >= 0"}},
		{rfcValid, modCase{name: "malformed", expr: `jwt.try_verify("a.b", "k")`, want: `(None, "token is malformed: token contains an invalid number of segments")`}},
	}
	for _, tc := range cases {
		runModCases(t, tc.now, extra, []modCase{tc.modCase})
	}
}

// testKeys are keys made for one test, with their public halves in PEM.
type testKeys struct {
	rsa      *rsa.PrivateKey
	rsaPEM   string
	ec256    *ecdsa.PrivateKey
	ec256PEM string
	ec384PEM string
	ed       ed25519.PrivateKey
	edPEM    string
	otherRSA string // another RSA public key
	otherEC  string // another P-256 public key
	rsaPKCS1 string // rsa's public key as "RSA PUBLIC KEY"
}

func publicPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func newTestKeys(t *testing.T) *testKeys {
	t.Helper()
	k := &testKeys{}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if k.ec256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	otherEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k.ed = edPriv
	k.rsaPEM = publicPEM(t, &k.rsa.PublicKey)
	k.otherRSA = publicPEM(t, &other.PublicKey)
	k.ec256PEM = publicPEM(t, &k.ec256.PublicKey)
	k.otherEC = publicPEM(t, &otherEC.PublicKey)
	k.ec384PEM = publicPEM(t, &ec384.PublicKey)
	k.edPEM = publicPEM(t, edPub)
	k.rsaPKCS1 = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)}))
	return k
}

// sign makes a compact token.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTVerifyPublicKeys(t *testing.T) {
	k := newTestKeys(t)
	now := modNow.Unix()
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "aud": "api", "iss": "idp", "exp": now + 60}
		for n, v := range extra {
			if v == nil {
				delete(c, n)
			} else {
				c[n] = v
			}
		}
		return c
	}
	// The HS256 token signed with the RSA public key's PEM as the secret:
	// the classic algorithm-confusion attack.
	confused := sign(t, jwt.SigningMethodHS256, []byte(k.rsaPEM), claims(nil))
	// alg "none", no signature.
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))
	extra := starlark.StringDict{
		"RS":           starlark.String(sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil))),
		"PS":           starlark.String(sign(t, jwt.SigningMethodPS256, k.rsa, claims(nil))),
		"ES":           starlark.String(sign(t, jwt.SigningMethodES256, k.ec256, claims(nil))),
		"ED":           starlark.String(sign(t, jwt.SigningMethodEdDSA, k.ed, claims(nil))),
		"RS_EXPIRED":   starlark.String(sign(t, jwt.SigningMethodRS256, k.rsa, claims(jwt.MapClaims{"exp": now - 120}))),
		"ES_EXPIRED":   starlark.String(sign(t, jwt.SigningMethodES256, k.ec256, claims(jwt.MapClaims{"exp": now - 120}))),
		"RS_NBF":       starlark.String(sign(t, jwt.SigningMethodRS256, k.rsa, claims(jwt.MapClaims{"nbf": now + 30}))),
		"RS_NO_EXP":    starlark.String(sign(t, jwt.SigningMethodRS256, k.rsa, claims(jwt.MapClaims{"exp": nil}))),
		"RS_AUD_LIST":  starlark.String(sign(t, jwt.SigningMethodRS256, k.rsa, claims(jwt.MapClaims{"aud": []string{"web", "api"}}))),
		"CONFUSED":     starlark.String(confused),
		"NONE":         starlark.String(none),
		"RSA_PEM":      starlark.String(k.rsaPEM),
		"RSA_PKCS1":    starlark.String(k.rsaPKCS1),
		"OTHER_RSA":    starlark.String(k.otherRSA),
		"EC_PEM":       starlark.String(k.ec256PEM),
		"OTHER_EC":     starlark.String(k.otherEC),
		"EC384_PEM":    starlark.String(k.ec384PEM),
		"ED_PEM":       starlark.String(k.edPEM),
		"GARBAGE_PEM":  starlark.String("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
		"HS_BYTES":     starlark.String(sign(t, jwt.SigningMethodHS256, []byte("\x00\xffsecret"), claims(nil))),
		"RS_WRONG_SIG": starlark.String(sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil))[:10] + "x"),
	}
	runModCases(t, modNow, extra, []modCase{
		{name: "rs256", expr: `jwt.verify(RS, RSA_PEM, alg = "RS256")`, want: `{"aud": "api", "exp": 1714979349, "iss": "idp", "sub": "alice"}`},
		{name: "hs256 bytes key", expr: `jwt.verify(HS_BYTES, b"\x00\xffsecret")["sub"]`, want: `"alice"`},
		{name: "rs256 pkcs1 key", expr: `jwt.verify(RS, RSA_PKCS1, alg = "RS256")["sub"]`, want: `"alice"`},
		{name: "ps256", expr: `jwt.verify(PS, RSA_PEM, alg = "PS256")["sub"]`, want: `"alice"`},
		{name: "es256", expr: `jwt.verify(ES, EC_PEM, alg = "ES256")["sub"]`, want: `"alice"`},
		{name: "rsa key for eddsa", expr: `jwt.verify(ED, RSA_PEM, alg = "EdDSA")`, wantErr: "jwt.verify: key for EdDSA: got no Ed25519 public key in the PEM text"},
		{name: "eddsa", expr: `jwt.verify(ED, ED_PEM, alg = "EdDSA")["sub"]`, want: `"alice"`},
		{name: "audience and issuer", expr: `jwt.verify(RS, RSA_PEM, alg = "RS256", audience = "api", issuer = "idp")["aud"]`, want: `"api"`},
		{name: "audience in list", expr: `jwt.verify(RS_AUD_LIST, RSA_PEM, alg = "RS256", audience = ["api"])["aud"]`, want: `["web", "api"]`},
		{name: "wrong audience", expr: `jwt.verify(RS, RSA_PEM, alg = "RS256", audience = "admin")`, wantErr: "token has invalid audience"},
		{name: "rs256 expired", expr: `jwt.verify(RS_EXPIRED, RSA_PEM, alg = "RS256")`, wantErr: "token is expired"},
		{name: "rs256 expired within leeway", expr: `jwt.verify(RS_EXPIRED, RSA_PEM, alg = "RS256", leeway = 121)["sub"]`, want: `"alice"`},
		{name: "es256 expired", expr: `jwt.try_verify(ES_EXPIRED, EC_PEM, alg = "ES256")`, want: `(None, "token has invalid claims: token is expired")`},
		{name: "not yet valid", expr: `jwt.verify(RS_NBF, RSA_PEM, alg = "RS256")`, wantErr: "jwt.verify: token has invalid claims: token is not valid yet"},
		{name: "not yet valid within leeway", expr: `jwt.verify(RS_NBF, RSA_PEM, alg = "RS256", leeway = 30.0)["sub"]`, want: `"alice"`},
		{name: "exp not required by default", expr: `jwt.verify(RS_NO_EXP, RSA_PEM, alg = "RS256")["sub"]`, want: `"alice"`},
		{name: "exp required", expr: `jwt.verify(RS_NO_EXP, RSA_PEM, alg = "RS256", required = ["exp"])`, wantErr: "token is missing required claim: exp"},
		{name: "rs256 wrong key", expr: `jwt.verify(RS, OTHER_RSA, alg = "RS256")`, wantErr: "jwt.verify: token signature is invalid: crypto/rsa: verification error"},
		{name: "es256 wrong key", expr: `jwt.verify(ES, OTHER_EC, alg = "ES256")`, wantErr: "jwt.verify: token signature is invalid"},
		{name: "truncated signature", expr: `jwt.try_verify(RS_WRONG_SIG, RSA_PEM, alg = "RS256")[0]`, want: `None`},
		{name: "token alg differs from asked", expr: `jwt.verify(ES, EC_PEM, alg = "ES384")`, wantErr: "jwt.verify: key for ES384: got a 256-bit curve, want 384"},
		{name: "rs token asked as ps", expr: `jwt.verify(RS, RSA_PEM, alg = "PS256")`, wantErr: "signing method RS256 is invalid"},
		{name: "default alg refuses rs256", expr: `jwt.verify(RS, "secret")`, wantErr: "signing method RS256 is invalid"},
		{name: "confusion hs256 with rsa pem asked as rs256", expr: `jwt.verify(CONFUSED, RSA_PEM, alg = "RS256")`, wantErr: "signing method HS256 is invalid"},
		{name: "confusion pem as hmac secret", expr: `jwt.verify(CONFUSED, RSA_PEM, alg = "HS256")`, wantErr: "jwt.verify: got a PEM key for HS256, want the shared secret"},
		{name: "none token", expr: `jwt.verify(NONE, "secret")`, wantErr: "signing method none is invalid"},
		{name: "none token try", expr: `jwt.try_verify(NONE, RSA_PEM, alg = "RS256")[0]`, want: `None`},
		{name: "alg none refused", expr: `jwt.verify(NONE, "", alg = "none")`, wantErr: `jwt.verify: alg "none" is not allowed`},
		{name: "unknown alg", expr: `jwt.verify(RS, RSA_PEM, alg = "RS1")`, wantErr: `jwt.verify: got alg "RS1", want one of HS256`},
		{name: "ec key for rsa alg", expr: `jwt.verify(RS, EC_PEM, alg = "RS256")`, wantErr: "jwt.verify: key for RS256: got no RSA public key in the PEM text"},
		{name: "rsa key for ec alg", expr: `jwt.verify(ES, RSA_PEM, alg = "ES256")`, wantErr: "jwt.verify: key for ES256: got no ECDSA public key in the PEM text"},
		{name: "p384 key for es256", expr: `jwt.verify(ES, EC384_PEM, alg = "ES256")`, wantErr: "got a 384-bit curve, want 256"},
		{name: "not pem", expr: `jwt.verify(RS, "secret", alg = "RS256")`, wantErr: "jwt.verify: got a key that is not PEM, want the RS256 public key in PEM"},
		{name: "garbage pem", expr: `jwt.try_verify(RS, GARBAGE_PEM, alg = "RS256")`, wantErr: "jwt.try_verify: key for RS256: got no RSA public key in the PEM text"},
		{name: "too long", expr: `jwt.verify("a" * 70000, "k")`, wantErr: "jwt.verify: got a token of 70000 bytes, want at most 65536"},
		{name: "required of wrong type", expr: `jwt.verify(RS, RSA_PEM, alg = "RS256", required = [1])`, wantErr: "jwt.verify: for parameter required: got int in the list, want str"},
	})
}

// TestJWTKeyCache checks that a PEM key is parsed once per module.
func TestJWTKeyCache(t *testing.T) {
	k := newTestKeys(t)
	m := &jwtModule{keys: newBoundedCache[any](jwtKeyCacheSize)}
	a, err := m.key("RS256", bytesLike(k.rsaPEM))
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.key("PS256", bytesLike(k.rsaPEM))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("got two parsed keys for one PEM, want the cached one")
	}
	if got := m.keys.len(); got != 1 {
		t.Errorf("got %d cached keys, want 1", got)
	}
}

// TestJWTNoneSegment checks the "none" token the tests use really is one.
func TestJWTNoneSegment(t *testing.T) {
	tok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{})
	header, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if !strings.Contains(string(header), `"alg":"none"`) {
		t.Errorf("got header %s, want alg none", header)
	}
}
