package bindings

import (
	"fmt"

	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
)

// The json module's builtins are immutable and shared.
var (
	jsonEncodeFn = json.Module.Members["encode"]
	jsonDecodeFn = json.Module.Members["decode"]
)

func jsonEncode(thread *starlark.Thread, v starlark.Value) (string, error) {
	out, err := starlark.Call(thread, jsonEncodeFn, starlark.Tuple{v}, nil)
	if err != nil {
		return "", err
	}
	s, _ := starlark.AsString(out)
	return s, nil
}

func jsonDecode(thread *starlark.Thread, text string) (starlark.Value, error) {
	v, err := starlark.Call(thread, jsonDecodeFn, starlark.Tuple{starlark.String(text)}, nil)
	if err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return v, nil
}

// DecodeJSON decodes JSON text into Starlark values (object -> dict, array
// -> list, numbers -> int or float, null -> None).
func DecodeJSON(thread *starlark.Thread, text string) (starlark.Value, error) {
	return jsonDecode(thread, text)
}

// EncodeJSON encodes a Starlark value as JSON text.
func EncodeJSON(thread *starlark.Thread, v starlark.Value) (string, error) {
	return jsonEncode(thread, v)
}
