package bindings

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The hashlib module: message digests and HMAC (RFC 2104) as lowercase hex
// str or as bytes, and a constant-time comparison.

// hashAlgNames are the algorithms hashlib.hmac accepts.
const hashAlgNames = "md5, sha1, sha256, sha512"

func hashNew(alg string) func() hash.Hash {
	switch alg {
	case "md5":
		return md5.New
	case "sha1":
		return sha1.New
	case "sha256":
		return sha256.New
	case "sha512":
		return sha512.New
	}
	return nil
}

// newHashlibModule returns the hashlib module. It holds no state.
func newHashlibModule() *starlarkstruct.Module {
	members := starlark.StringDict{
		"hmac":       starlark.NewBuiltin("hashlib.hmac", hashHMAC(false)),
		"hmac_bytes": starlark.NewBuiltin("hashlib.hmac_bytes", hashHMAC(true)),
		"equal":      starlark.NewBuiltin("hashlib.equal", hashEqual),
	}
	for _, alg := range []string{"md5", "sha1", "sha256", "sha512"} {
		members[alg] = starlark.NewBuiltin("hashlib."+alg, hashDigest(hashNew(alg), false))
		members[alg+"_bytes"] = starlark.NewBuiltin("hashlib."+alg+"_bytes", hashDigest(hashNew(alg), true))
	}
	return &starlarkstruct.Module{Name: "hashlib", Members: members}
}

// digestValue renders a digest as hex str or as bytes.
func digestValue(sum []byte, raw bool) starlark.Value {
	if raw {
		return starlark.Bytes(sum)
	}
	return starlark.String(hex.EncodeToString(sum))
}

// hashlib.<alg>(data) -> hex str; hashlib.<alg>_bytes(data) -> bytes
func hashDigest(newHash func() hash.Hash, raw bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var data bytesLike
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &data); err != nil {
			return nil, err
		}
		if err := checkSize(b.Name(), len(data), maxDataBytes); err != nil {
			return nil, err
		}
		h := newHash()
		h.Write([]byte(data))
		return digestValue(h.Sum(nil), raw), nil
	}
}

// hashlib.hmac(alg, key, msg) -> hex str; hashlib.hmac_bytes -> bytes
func hashHMAC(raw bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var (
			alg      string
			key, msg bytesLike
		)
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "alg", &alg, "key", &key, "msg", &msg); err != nil {
			return nil, err
		}
		newHash := hashNew(alg)
		if newHash == nil {
			return nil, fmt.Errorf("%s: got alg %q, want one of %s", b.Name(), alg, hashAlgNames)
		}
		if err := checkSize(b.Name(), len(key)+len(msg), maxDataBytes); err != nil {
			return nil, err
		}
		mac := hmac.New(newHash, []byte(key))
		mac.Write([]byte(msg))
		return digestValue(mac.Sum(nil), raw), nil
	}
}

// hashlib.equal(a, b) -> bool, in time that depends only on the lengths.
func hashEqual(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x, y bytesLike
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "a", &x, "b", &y); err != nil {
		return nil, err
	}
	if err := checkSize(b.Name(), len(x)+len(y), maxDataBytes); err != nil {
		return nil, err
	}
	return starlark.Bool(subtle.ConstantTimeCompare([]byte(x), []byte(y)) == 1), nil
}
