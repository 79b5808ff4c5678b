package authoring

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/bazelbuild/buildtools/build"
)

// ErrFormatUnsupported is wrapped when a file is valid in scriptrunner's
// dialect but uses syntax the buildifier formatter does not parse:
// while loops and bytes literals.
var ErrFormatUnsupported = errors.New("the formatter cannot parse this file (buildifier supports neither while loops nor bytes literals); it is left as it is")

// Format returns src formatted in the standard Starlark style: the
// buildifier formatter for generic Starlark (.bzl) files, with its
// semantics-preserving rewrites (argument order, load statements,
// docstrings, number literals). path is used in errors only.
func Format(path string, src []byte) ([]byte, error) {
	f, err := build.ParseDefault(path, src)
	if err != nil {
		if _, serr := testFileOptions.Parse(path, src, 0); serr != nil {
			return nil, serr // a real syntax error, with Starlark's position
		}
		return nil, fmt.Errorf("%w: %v", ErrFormatUnsupported, err)
	}
	return build.Format(f), nil
}

// FormatFile formats the file at path, rewriting it when write is set,
// and reports whether its content differs from the formatted form.
func FormatFile(path string, write bool) (changed bool, err error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	out, err := Format(path, src)
	if err != nil {
		return false, err
	}
	if bytes.Equal(src, out) {
		return false, nil
	}
	if write {
		fi, err := os.Stat(path)
		if err != nil {
			return true, err
		}
		if err := os.WriteFile(path, out, fi.Mode().Perm()); err != nil {
			return true, err
		}
	}
	return true, nil
}
