package bindings

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"go.starlark.net/starlark"
)

// Budget is the part of a call's limits that builtins enforce themselves,
// because the interpreter counts only bytecode steps: how many bytes the
// call may still build, how deep the values it hands to recursive
// builtins may nest, and the step limit that builtins doing more than a
// step's work charge against.
//
// The engine binds one Budget to each thread it creates (BindBudget) and
// resets it before every handler. A thread without a Budget has no byte
// cap and DefaultMaxDepth.
type Budget struct {
	// MaxBuild caps the bytes the call may build with metered operations
	// (max_build_bytes). Zero or negative means no cap.
	MaxBuild int64
	// Built counts the bytes charged so far.
	Built int64
	// MaxDepth caps the nesting depth of values processed by recursive
	// builtins (json, str, repr, string formatting) and the Starlark call
	// depth at metered operations (max_depth). Zero means DefaultMaxDepth.
	MaxDepth int
	// StepLimit is the thread's ExecutionSteps value at which the call
	// is cancelled; builtins that do more than one step's work charge it
	// with ChargeSteps. Zero means no limit.
	StepLimit uint64
}

// DefaultMaxDepth is the max_depth of a thread without a Budget. Nesting
// this deep costs well under a megabyte of Go stack in any recursive
// builtin; nesting in the millions overflows Go's 1 GB stack, which kills
// the process.
const DefaultMaxDepth = 1000

// Errors wrapped when a budget is exhausted.
var (
	ErrBuildLimit = errors.New("max_build_bytes exceeded")
	ErrDepthLimit = errors.New("max_depth exceeded")
	ErrStepLimit  = errors.New("step budget exceeded")
)

const budgetKey = "scriptrunner.budget"

// BindBudget attaches b to thread. Call it before the thread runs
// anything (a thread's locals must not change while it runs).
func BindBudget(thread *starlark.Thread, b *Budget) { thread.SetLocal(budgetKey, b) }

// BudgetOf returns the Budget bound to thread, or nil.
func BudgetOf(thread *starlark.Thread) *Budget {
	b, _ := thread.Local(budgetKey).(*Budget)
	return b
}

// Depth returns the effective max_depth.
func (b *Budget) Depth() int {
	if b == nil || b.MaxDepth <= 0 {
		return DefaultMaxDepth
	}
	return b.MaxDepth
}

// Remaining returns the bytes the call may still build, or -1 when there
// is no cap.
func (b *Budget) Remaining() int64 {
	if b == nil || b.MaxBuild <= 0 {
		return -1
	}
	return max(b.MaxBuild-b.Built, 0)
}

// Charge records n more bytes built by what, failing without recording
// them when they do not fit. A nil Budget accepts everything.
func (b *Budget) Charge(what string, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if b.MaxBuild > 0 && n > b.MaxBuild-b.Built {
		return &LimitError{What: what, Need: n, Left: max(b.MaxBuild-b.Built, 0), Max: b.MaxBuild, err: ErrBuildLimit}
	}
	b.Built += n
	return nil
}

// ChargeSteps adds n steps of work done by a builtin to thread's step
// counter, failing without adding them when they do not fit the call's
// step budget.
func (b *Budget) ChargeSteps(thread *starlark.Thread, what string, n uint64) error {
	if b == nil || b.StepLimit == 0 {
		return nil
	}
	used := thread.ExecutionSteps()
	if used >= b.StepLimit || n > b.StepLimit-used {
		left := uint64(0)
		if used < b.StepLimit {
			left = b.StepLimit - used
		}
		return fmt.Errorf("%s: needs about %d steps of work; %d of the call's step budget are left: %w", what, n, left, ErrStepLimit)
	}
	thread.Steps += n
	return nil
}

// CheckCallDepth fails when thread's Starlark call stack is deeper than
// max_depth.
func (b *Budget) CheckCallDepth(thread *starlark.Thread, what string) error {
	if d, m := thread.CallStackDepth(), b.Depth(); d > m {
		return fmt.Errorf("%s: call depth %d exceeds max_depth (%d): %w", what, d, m, ErrDepthLimit)
	}
	return nil
}

// LimitError reports an operation refused because it would build more
// than max_build_bytes allows.
type LimitError struct {
	What string // the operation, e.g. "+" or "json.encode"
	Need int64  // bytes the operation would build (at least)
	Left int64  // bytes left in the call's budget
	Max  int64  // the call's max_build_bytes
	err  error
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: would build %s, but only %d of the call's max_build_bytes (%d) are left", e.What, sizeText(e.Need), e.Left, e.Max)
}

func (e *LimitError) Unwrap() error { return e.err }

func sizeText(n int64) string {
	if n == math.MaxInt64 {
		return "more bytes than memory holds"
	}
	return fmt.Sprintf("%d bytes", n)
}

// Mul returns a*b, saturating at math.MaxInt64; negative factors count
// as zero.
func Mul(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// Add returns a+b, saturating at math.MaxInt64.
func Add(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

// ValueSlot is what one element of a list, tuple or range costs when
// materialized: one interface value.
const ValueSlot = 16

// CheckJSONDepth scans JSON text and fails when arrays and objects nest
// deeper than maxDepth, before a recursive decoder could overflow the Go
// stack (which is fatal, not an error). It also returns the deepest
// nesting and the number of structural characters ('[', '{', ','), from
// which callers estimate indented output. Brackets inside strings do not
// count; the text is not otherwise validated.
func CheckJSONDepth(s string, maxDepth int) (depth, items int, err error) {
	d := 0
	inString := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			d++
			items++
			if d > depth {
				depth = d
				if depth > maxDepth {
					return depth, items, fmt.Errorf("JSON nests deeper than max_depth (%d): %w", maxDepth, ErrDepthLimit)
				}
			}
		case ']', '}':
			d--
		case ',':
			items++
		}
	}
	return depth, items, nil
}

// Estimate is what EstimateSize measured.
type Estimate struct {
	Bytes int64 // lower bound of the bytes str/repr/json.encode produce
	Items int64 // elements, keys and values visited
	Depth int   // deepest nesting
}

// EstimateSize walks v as str, repr and json.encode would, without
// building anything, and returns a lower bound of the text they produce.
// It fails when v nests deeper than maxDepth, and stops early with a
// *LimitError (What empty) once the estimate passes limit (limit < 0:
// none), so its own work stays proportional to what the caller may
// build. Shared references count once per occurrence, as the output
// repeats them: that is how a small list of one large string is caught
// before it is printed.
func EstimateSize(v starlark.Value, maxDepth int, limit int64) (Estimate, error) {
	w := sizeWalker{maxDepth: maxDepth, limit: limit}
	err := w.walk(v, 0)
	return w.est, err
}

type sizeWalker struct {
	maxDepth int
	limit    int64
	est      Estimate
	path     []starlark.Value // mutable containers being walked, for cycles
}

var errEstimateLimit = errors.New("estimate limit")

func (w *sizeWalker) add(n int64) error {
	w.est.Bytes = Add(w.est.Bytes, n)
	if w.limit >= 0 && w.est.Bytes > w.limit {
		return errEstimateLimit
	}
	return nil
}

func (w *sizeWalker) onPath(v starlark.Value) bool {
	for _, p := range w.path {
		if p == v {
			return true
		}
	}
	return false
}

// enter records that a container at depth (1 for the outermost) is
// being walked.
func (w *sizeWalker) enter(depth int) error {
	if depth > w.est.Depth {
		w.est.Depth = depth
		if depth > w.maxDepth {
			return fmt.Errorf("value nests deeper than max_depth (%d): %w", w.maxDepth, ErrDepthLimit)
		}
	}
	return nil
}

// walk measures v, which depth containers enclose.
func (w *sizeWalker) walk(v starlark.Value, depth int) error {
	w.est.Items++
	switch x := v.(type) {
	case starlark.String:
		return w.add(int64(len(x)) + 2)
	case starlark.Bytes:
		return w.add(int64(len(x)) + 3)
	case starlark.Int:
		if _, ok := x.Int64(); ok {
			return w.add(1)
		}
		return w.add(int64(x.BigInt().BitLen())*3/10 + 1)
	case starlark.NoneType, starlark.Bool, starlark.Float:
		return w.add(1)
	case starlark.Tuple:
		if err := w.enter(depth + 1); err != nil {
			return err
		}
		if err := w.add(2); err != nil {
			return err
		}
		for _, e := range x {
			if err := w.walk(e, depth+1); err != nil {
				return err
			}
			if err := w.add(2); err != nil {
				return err
			}
		}
		return nil
	case *starlark.List, *starlark.Dict, *starlark.Set:
		if w.onPath(v) {
			return w.add(5) // printed as [...] or {...}
		}
		if err := w.enter(depth + 1); err != nil {
			return err
		}
		w.path = append(w.path, v)
		defer func() { w.path = w.path[:len(w.path)-1] }()
		if err := w.add(2); err != nil {
			return err
		}
		if d, ok := v.(*starlark.Dict); ok {
			for k, val := range starlark.Entries(d) {
				if err := w.walk(k, depth+1); err != nil {
					return err
				}
				if err := w.walk(val, depth+1); err != nil {
					return err
				}
				if err := w.add(4); err != nil {
					return err
				}
			}
			return nil
		}
		for e := range starlark.Elements(v.(starlark.Iterable)) {
			if err := w.walk(e, depth+1); err != nil {
				return err
			}
			if err := w.add(2); err != nil {
				return err
			}
		}
		return nil
	}
	return w.add(8)
}

// Measure estimates the text printing or encoding v builds, without
// charging it. It fails with a *LimitError when the estimate alone
// exceeds what is left of thread's budget, and with an error wrapping
// ErrDepthLimit when v nests deeper than max_depth.
func Measure(thread *starlark.Thread, what string, v starlark.Value) (Estimate, error) {
	b := BudgetOf(thread)
	est, err := EstimateSize(v, b.Depth(), b.Remaining())
	switch {
	case errors.Is(err, errEstimateLimit):
		return est, &LimitError{What: what, Need: est.Bytes, Left: b.Remaining(), Max: b.MaxBuild, err: ErrBuildLimit}
	case err != nil:
		return est, fmt.Errorf("%s: %w", what, err)
	}
	return est, nil
}

// PrecheckSize measures v (see Measure) and charges the estimate to
// thread's budget, so that nothing is built when it does not fit. It
// returns the charged estimate; charge the actual size with ChargeActual
// afterwards.
func PrecheckSize(thread *starlark.Thread, what string, v starlark.Value) (int64, error) {
	est, err := Measure(thread, what, v)
	if err != nil {
		return 0, err
	}
	return est.Bytes, BudgetOf(thread).Charge(what, est.Bytes)
}

// ChargeActual charges the difference between the size an operation
// actually built and the estimate PrecheckSize charged for it.
func ChargeActual(thread *starlark.Thread, what string, actual, charged int64) error {
	return BudgetOf(thread).Charge(what, actual-charged)
}
