package authoring

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// Diagnostic is one problem in a file, at a position when one is known
// (Line and Col are 0 otherwise).
type Diagnostic struct {
	File      string
	Line, Col int32
	Msg       string
}

// String renders d as file:line:col: message (file:line: or file: when the
// position is partly known), the form editors jump to.
func (d Diagnostic) String() string {
	switch {
	case d.Line > 0 && d.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", d.File, d.Line, d.Col, d.Msg)
	case d.Line > 0:
		return fmt.Sprintf("%s:%d: %s", d.File, d.Line, d.Msg)
	}
	return d.File + ": " + d.Msg
}

// Diagnostics is a list of problems; as an error it reads as its first.
type Diagnostics []Diagnostic

func (ds Diagnostics) Error() string {
	if len(ds) == 0 {
		return "no problems"
	}
	return ds[0].String()
}

func at(file string, pos syntax.Position, msg string) Diagnostic {
	return Diagnostic{File: file, Line: pos.Line, Col: pos.Col, Msg: msg}
}

// Diagnose turns an error of compiling, loading or preparing the file at
// path into diagnostics, with the position Starlark reports: syntax and
// resolve errors (with did-you-mean hints), runtime errors at the
// innermost frame of the file, and the engine's "file:line: …" messages.
func Diagnose(path string, err error) Diagnostics {
	var ds Diagnostics
	var se syntax.Error
	var rl resolve.ErrorList
	var ee *starlark.EvalError
	switch {
	case errors.As(err, &ds):
		return ds
	case errors.As(err, &se):
		return Diagnostics{at(path, se.Pos, se.Msg)}
	case errors.As(err, &rl):
		for _, e := range rl {
			ds = append(ds, at(path, e.Pos, withHint(e.Msg)))
		}
		return ds
	case errors.As(err, &ee):
		prefix := stripFile(path, strings.TrimSuffix(err.Error(), ee.Error()))
		return Diagnostics{at(path, framePos(path, ee.CallStack), prefix+ee.Msg)}
	}
	msg := stripFile(path, err.Error())
	d := Diagnostic{File: path, Msg: msg}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		d.Line, d.Msg = int32(n), m[2]
	}
	return Diagnostics{d}
}

var lineRE = regexp.MustCompile(`^(\d+): (.*)$`)

// stripFile removes the "<name>.star: " prefix the engine puts on its
// messages; the diagnostic names the file itself.
func stripFile(path, msg string) string {
	base := filepath.Base(path)
	if rest, ok := strings.CutPrefix(msg, base+":"); ok {
		return strings.TrimPrefix(rest, " ")
	}
	return msg
}

// framePos returns the position of the innermost frame of stack in the
// file at path (the engine compiles a script as <name>.star).
func framePos(path string, stack starlark.CallStack) syntax.Position {
	base := filepath.Base(path)
	for i := len(stack) - 1; i >= 0; i-- {
		if p := stack[i].Pos; p.IsValid() && filepath.Base(p.Filename()) == base {
			return p
		}
	}
	return syntax.Position{}
}

var undefinedRE = regexp.MustCompile(`^undefined: (\w+)(?: \(did you mean (\w+)\?\))?$`)

// withHint gives "undefined: name" a did-you-mean hint naming a close
// predeclared or built-in name. Starlark's resolver suggests only local
// and global names, since it cannot list the predeclared ones; its hint
// is kept unless a predeclared name is strictly closer.
func withHint(msg string) string {
	m := undefinedRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	var names []string
	for n := range bindings.Predeclared() {
		names = append(names, n)
	}
	for n := range starlark.Universe {
		names = append(names, n)
	}
	n := nearest(m[1], names)
	switch {
	case n == "":
		return msg
	case m[2] != "" && editDistance(m[1], m[2]) <= editDistance(m[1], n):
		return msg
	}
	return fmt.Sprintf("undefined: %s (did you mean %s?)", m[1], n)
}

// nearest returns the name closest to x by edit distance, at most one
// edit per three letters; "" when none is that close.
func nearest(x string, names []string) string {
	sort.Strings(names)
	best, bestDist := "", max(1, len(x)/3)+1
	for _, n := range names {
		if d := editDistance(strings.ToLower(x), strings.ToLower(n)); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two ASCII identifiers.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
