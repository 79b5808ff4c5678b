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

// jsonEncode encodes v, charging the text to the call's budget: the size
// is estimated (and nesting checked) before encoding, so a small value
// with many references to one large string fails before it is expanded.
func jsonEncode(thread *starlark.Thread, v starlark.Value) (string, error) {
	charged, err := PrecheckSize(thread, "json.encode", v)
	if err != nil {
		return "", err
	}
	out, err := starlark.Call(thread, jsonEncodeFn, starlark.Tuple{v}, nil)
	if err != nil {
		return "", err
	}
	s, _ := starlark.AsString(out)
	return s, ChargeActual(thread, "json.encode", int64(len(s)), charged)
}

// jsonDecode decodes text after checking that it nests no deeper than
// the call's max_depth: the decoder recurses once per level, and deep
// enough nesting (a few million '[') overflows the Go stack, which kills
// the process instead of failing the call.
func jsonDecode(thread *starlark.Thread, text string) (starlark.Value, error) {
	if _, _, err := CheckJSONDepth(text, BudgetOf(thread).Depth()); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
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
