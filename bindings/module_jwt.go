package bindings

import (
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	libtime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The jwt module: JSON Web Tokens (RFC 7519) in compact JWS form, decoded
// without verification or verified with github.com/golang-jwt/jwt/v5.
// The caller names the one algorithm it accepts, so a token cannot choose
// its own (no "none", no HS256 signed with an RSA public key).

const (
	// jwtMaxToken bounds a token's length.
	jwtMaxToken = 64 << 10
	// jwtKeyCacheSize bounds the parsed public keys one module keeps.
	jwtKeyCacheSize = 64
	// jwtAlgNames lists the algorithms jwt.verify accepts.
	jwtAlgNames = "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"
)

// jwtModule owns the cache of parsed PEM public keys of one predeclared
// environment. It is safe for concurrent use.
type jwtModule struct {
	keys *boundedCache[any]
}

// newJWTModule returns a jwt module with its own key cache.
func newJWTModule() *starlarkstruct.Module {
	m := &jwtModule{keys: newBoundedCache[any](jwtKeyCacheSize)}
	return &starlarkstruct.Module{Name: "jwt", Members: starlark.StringDict{
		"decode":     starlark.NewBuiltin("jwt.decode", jwtDecode),
		"verify":     starlark.NewBuiltin("jwt.verify", m.verifyBuiltin(false)),
		"try_verify": starlark.NewBuiltin("jwt.try_verify", m.verifyBuiltin(true)),
	}}
}

// jwtSegment decodes the header (i = 0) or claims (i = 1) of a compact
// token into a Starlark dict, keeping the token's key order and integers.
func jwtSegment(thread *starlark.Thread, token string, i int) (*starlark.Dict, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("token is malformed: want three dot-separated parts")
	}
	what := [2]string{"header", "claims"}[i]
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		return nil, fmt.Errorf("token is malformed: %s: %v", what, err)
	}
	v, err := jsonDecode(thread, string(raw))
	if err != nil {
		return nil, fmt.Errorf("token is malformed: %s: %v", what, err)
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("token is malformed: %s is a JSON %s, want an object", what, v.Type())
	}
	return d, nil
}

// jwt.decode(token, default=unset) -> {"header": dict, "claims": dict}
// without checking the signature or any claim.
func jwtDecode(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		token string
		dflt  starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "token", &token, "default?", &dflt); err != nil {
		return nil, err
	}
	fail := func(err error) (starlark.Value, error) {
		if dflt != nil {
			return dflt, nil
		}
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	if len(token) > jwtMaxToken {
		return fail(fmt.Errorf("got a token of %d bytes, want at most %d", len(token), jwtMaxToken))
	}
	header, err := jwtSegment(thread, token, 0)
	if err != nil {
		return fail(err)
	}
	claims, err := jwtSegment(thread, token, 1)
	if err != nil {
		return fail(err)
	}
	out := starlark.NewDict(2)
	_ = out.SetKey(starlark.String("header"), header)
	_ = out.SetKey(starlark.String("claims"), claims)
	return out, nil
}

// verifyParams are jwt.verify's arguments.
type verifyParams struct {
	token    string
	key      bytesLike
	alg      string
	leeway   time.Duration
	required []string
	audience []string
	issuer   string
}

func unpackVerify(fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*verifyParams, error) {
	p := &verifyParams{alg: "HS256"}
	var leeway, required, audience, issuer starlark.Value = starlark.MakeInt(0), starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs,
		"token", &p.token, "key", &p.key, "alg?", &p.alg, "leeway?", &leeway,
		"required?", &required, "audience?", &audience, "issuer?", &issuer); err != nil {
		return nil, err
	}
	var err error
	if p.leeway, err = leewayOf(fn, leeway); err != nil {
		return nil, err
	}
	if p.required, err = strList(fn, "required", required); err != nil {
		return nil, err
	}
	if p.audience, err = strList(fn, "audience", audience); err != nil {
		return nil, err
	}
	if issuer != starlark.None {
		s, ok := issuer.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("%s: for parameter issuer: got %s, want str or None", fn, issuer.Type())
		}
		p.issuer = string(s)
	}
	return p, nil
}

// leewayOf converts seconds (int or float) or a time.duration.
func leewayOf(fn string, v starlark.Value) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case starlark.Int:
		sec, ok := x.Int64()
		if !ok || sec > 1<<32 {
			return 0, fmt.Errorf("%s: for parameter leeway: got %s, want at most %d seconds", fn, x, int64(1)<<32)
		}
		d = time.Duration(sec) * time.Second
	case starlark.Float:
		if x > 1<<32 {
			return 0, fmt.Errorf("%s: for parameter leeway: got %s, want at most %d seconds", fn, x, int64(1)<<32)
		}
		d = time.Duration(float64(x) * float64(time.Second))
	case libtime.Duration:
		d = time.Duration(x)
	default:
		return 0, fmt.Errorf("%s: for parameter leeway: got %s, want seconds (int or float) or time.duration", fn, v.Type())
	}
	if d < 0 {
		return 0, fmt.Errorf("%s: for parameter leeway: got %s, want >= 0", fn, v)
	}
	return d, nil
}

// strList converts None, a str, or a list or tuple of str.
func strList(fn, param string, v starlark.Value) ([]string, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.String:
		return []string{string(x)}, nil
	case *starlark.List, starlark.Tuple:
		seq := x.(starlark.Indexable)
		out := make([]string, seq.Len())
		for i := range out {
			s, ok := seq.Index(i).(starlark.String)
			if !ok {
				return nil, fmt.Errorf("%s: for parameter %s: got %s in the list, want str", fn, param, seq.Index(i).Type())
			}
			out[i] = string(s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: for parameter %s: got %s, want str or list of str", fn, param, v.Type())
}

// key returns the verification key for alg: the secret's bytes for HMAC,
// a parsed (and cached) PEM public key otherwise.
func (m *jwtModule) key(alg string, k bytesLike) (any, error) {
	if alg == "none" {
		return nil, errors.New(`alg "none" is not allowed`)
	}
	method := jwt.GetSigningMethod(alg)
	isPEM := strings.Contains(string(k), "-----BEGIN")
	switch method.(type) {
	case *jwt.SigningMethodHMAC:
		if len(k) == 0 {
			return nil, fmt.Errorf("got an empty key, want the %s secret", alg)
		}
		if isPEM {
			return nil, fmt.Errorf("got a PEM key for %s, want the shared secret", alg)
		}
		return []byte(k), nil
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS, *jwt.SigningMethodECDSA, *jwt.SigningMethodEd25519:
	default:
		return nil, fmt.Errorf("got alg %q, want one of %s", alg, jwtAlgNames)
	}
	if !isPEM {
		return nil, fmt.Errorf("got a key that is not PEM, want the %s public key in PEM", alg)
	}
	family := alg[:2] // RS and PS share RSA keys
	if family == "PS" {
		family = "RS"
	}
	cacheKey := family + "\x00" + string(k)
	if key, ok := m.keys.get(cacheKey); ok {
		return checkCurve(method, key)
	}
	var key any
	var err error
	kind := "Ed25519"
	switch family {
	case "RS":
		kind = "RSA"
		key, err = jwt.ParseRSAPublicKeyFromPEM([]byte(k))
	case "ES":
		kind = "ECDSA"
		key, err = jwt.ParseECPublicKeyFromPEM([]byte(k))
	default:
		key, err = jwt.ParseEdPublicKeyFromPEM([]byte(k))
	}
	if err != nil {
		// The parsers' errors are ASN.1 details; say what was wanted.
		return nil, fmt.Errorf("key for %s: got no %s public key in the PEM text", alg, kind)
	}
	return checkCurve(method, m.keys.add(cacheKey, key))
}

// checkCurve rejects an ECDSA key on another curve than the algorithm's.
func checkCurve(method jwt.SigningMethod, key any) (any, error) {
	em, ok := method.(*jwt.SigningMethodECDSA)
	if !ok {
		return key, nil
	}
	if bits := key.(*ecdsa.PublicKey).Curve.Params().BitSize; bits != em.CurveBits {
		return nil, fmt.Errorf("key for %s: got a %d-bit curve, want %d", em.Alg(), bits, em.CurveBits)
	}
	return key, nil
}

// verifyBuiltin makes jwt.verify (soft false: an invalid token is an
// error) and jwt.try_verify (soft: it returns (None, reason)). Bad
// arguments, such as an unusable key, are errors either way.
func (m *jwtModule) verifyBuiltin(soft bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		p, err := unpackVerify(b.Name(), args, kwargs)
		if err != nil {
			return nil, err
		}
		key, err := m.key(p.alg, p.key)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", b.Name(), err)
		}
		claims, err := verifyToken(thread, p, key)
		switch {
		case err == nil && soft:
			return starlark.Tuple{claims, starlark.None}, nil
		case err == nil:
			return claims, nil
		case soft:
			return starlark.Tuple{starlark.None, starlark.String(err.Error())}, nil
		}
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
}

// verifyToken checks the token's signature and claims at the call's time
// and returns its claims.
func verifyToken(thread *starlark.Thread, p *verifyParams, key any) (*starlark.Dict, error) {
	if len(p.token) > jwtMaxToken {
		return nil, fmt.Errorf("got a token of %d bytes, want at most %d", len(p.token), jwtMaxToken)
	}
	now := CallInfoOf(thread).Time()
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{p.alg}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithLeeway(p.leeway),
	}
	if len(p.audience) > 0 {
		opts = append(opts, jwt.WithAudience(p.audience...))
	}
	if p.issuer != "" {
		opts = append(opts, jwt.WithIssuer(p.issuer))
	}
	tok, err := jwt.NewParser(opts...).Parse(p.token, func(*jwt.Token) (any, error) { return key, nil })
	if err != nil {
		return nil, err
	}
	mc, _ := tok.Claims.(jwt.MapClaims)
	for _, name := range p.required {
		if _, ok := mc[name]; !ok {
			return nil, fmt.Errorf("%w: %s", jwt.ErrTokenRequiredClaimMissing, name)
		}
	}
	return jwtSegment(thread, p.token, 1)
}
