package bindings

import (
	"encoding/base64"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The base64 module: RFC 4648 base64, standard (§4) or URL-safe (§5)
// alphabet, padded or raw.

// newBase64Module returns the base64 module. It holds no state.
func newBase64Module() *starlarkstruct.Module {
	return &starlarkstruct.Module{Name: "base64", Members: starlark.StringDict{
		"encode": starlark.NewBuiltin("base64.encode", base64Encode),
		"decode": starlark.NewBuiltin("base64.decode", base64Decode),
	}}
}

func base64Encoding(url, pad bool) *base64.Encoding {
	switch {
	case url && pad:
		return base64.URLEncoding
	case url:
		return base64.RawURLEncoding
	case pad:
		return base64.StdEncoding
	}
	return base64.RawStdEncoding
}

// base64.encode(data, url=False, pad=True) -> str
func base64Encode(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		data bytesLike
		url  bool
		pad  = true
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "data", &data, "url?", &url, "pad?", &pad); err != nil {
		return nil, err
	}
	if err := checkSize(b.Name(), len(data), maxDataBytes); err != nil {
		return nil, err
	}
	return starlark.String(base64Encoding(url, pad).EncodeToString([]byte(data))), nil
}

// base64.decode(s, url=False, default=unset) -> str. Padding is optional:
// input ending in "=" must be correctly padded, input without "=" is read
// as raw. With default, invalid input returns default instead of failing.
func base64Decode(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		s    bytesLike
		url  bool
		dflt starlark.Value
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "s", &s, "url?", &url, "default?", &dflt); err != nil {
		return nil, err
	}
	if err := checkSize(b.Name(), len(s), maxDataBytes); err != nil {
		return nil, err
	}
	enc := base64Encoding(url, strings.HasSuffix(string(s), "="))
	out, err := enc.DecodeString(string(s))
	if err != nil {
		if dflt != nil {
			return dflt, nil
		}
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return starlark.String(out), nil
}
