package bindings

import (
	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"
)

// Predeclared returns the names every script sees besides the Starlark
// universe (which provides fail, len, str, …). The returned dict is new on
// each call; its values are immutable and safe to share.
func Predeclared() starlark.StringDict {
	return starlark.StringDict{
		"respond": starlark.NewBuiltin("respond", respond),
		"json":    json.Module,
	}
}
