package engine

import (
	"fmt"
	"math"
	"math/bits"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// Metering what a script builds.
//
// go.starlark.net counts bytecode steps but has no allocation hook: one
// step of `s + s`, `"x" * n` or `sep.join(l)` can build a gigabyte. So
// before compiling, the engine rewrites the operations that can build
// more than a constant amount per step into calls of hidden builtins that
// charge the result's size to the call's max_build_bytes budget *before*
// building it:
//
//	a + b, a * b, a % b     ->  +(a, b), *(a, b), %(a, b)
//	x += y, x *= y, x %= y  ->  x = +=(x, y), ...
//	e[k] += y, e.f += y     ->  []=(op, e, k, y), .=(op, e, "f", y)
//	r.join(...), r.replace(...), r.format(...), r.extend(...)
//	                        ->  .()(r, "join", ...)
//	r.join (not called)     ->  .(r, "join"), a metered bound method
//
// `+` and `%` with a number literal operand (`i + 1`, `n % 2`) cannot
// make a string or list grow, nor can operations on two literals except
// `*` (`"x" * 1000000000`), so those stay plain bytecode. The hidden names are
// not identifiers: scripts can neither call nor shadow them, and they
// appear in backtraces as "in +", "in .()".
//
// Predeclared wrappers cover the builtins that amplify: range (length
// capped by what max_build_bytes could materialize), str and repr
// (estimated before printing), sorted (charged n·log n steps), and the
// json module (nesting checked against max_depth, output estimated).
// What stays unmetered is documented in docs/scripting.md.

const (
	hookAdd     = "+"
	hookMul     = "*"
	hookMod     = "%"
	hookIAdd    = "+="
	hookAugItem = "[]="
	hookAugAttr = ".="
	hookMethod  = ".()"
	hookAttr    = "."
)

// meteredMethods are the methods whose result can be much larger than
// their receiver and arguments.
var meteredMethods = map[string]bool{"join": true, "replace": true, "format": true, "extend": true}

// guardFile rewrites f's metered operations into calls of the hooks.
func guardFile(f *syntax.File) { guardStmts(f.Stmts) }

func guardStmts(list []syntax.Stmt) {
	for i, s := range list {
		list[i] = guardStmt(s)
	}
}

func guardStmt(s syntax.Stmt) syntax.Stmt {
	switch s := s.(type) {
	case *syntax.AssignStmt:
		s.RHS = guardExpr(s.RHS)
		switch s.Op {
		case syntax.PLUS_EQ, syntax.STAR_EQ, syntax.PERCENT_EQ:
			return guardAug(s)
		}
		s.LHS = guardTarget(s.LHS)
	case *syntax.DefStmt:
		guardParams(s.Params)
		guardStmts(s.Body)
	case *syntax.ExprStmt:
		s.X = guardExpr(s.X)
	case *syntax.ForStmt:
		s.Vars = guardTarget(s.Vars)
		s.X = guardExpr(s.X)
		guardStmts(s.Body)
	case *syntax.WhileStmt:
		s.Cond = guardExpr(s.Cond)
		guardStmts(s.Body)
	case *syntax.IfStmt:
		s.Cond = guardExpr(s.Cond)
		guardStmts(s.True)
		guardStmts(s.False)
	case *syntax.ReturnStmt:
		if s.Result != nil {
			s.Result = guardExpr(s.Result)
		}
	}
	return s
}

// guardTarget rewrites the expressions inside an assignment target, not
// the target itself.
func guardTarget(e syntax.Expr) syntax.Expr {
	switch e := e.(type) {
	case *syntax.IndexExpr:
		e.X, e.Y = guardExpr(e.X), guardExpr(e.Y)
	case *syntax.DotExpr:
		e.X = guardExpr(e.X)
	case *syntax.TupleExpr:
		for i := range e.List {
			e.List[i] = guardTarget(e.List[i])
		}
	case *syntax.ListExpr:
		for i := range e.List {
			e.List[i] = guardTarget(e.List[i])
		}
	case *syntax.ParenExpr:
		e.X = guardTarget(e.X)
	}
	return e
}

func guardParams(params []syntax.Expr) {
	for _, p := range params {
		if b, ok := p.(*syntax.BinaryExpr); ok && b.Op == syntax.EQ {
			b.Y = guardExpr(b.Y)
		}
	}
}

func isNumber(e syntax.Expr) bool {
	lit, ok := e.(*syntax.Literal)
	return ok && (lit.Token == syntax.INT || lit.Token == syntax.FLOAT)
}

func isLiteral(e syntax.Expr) bool {
	_, ok := e.(*syntax.Literal)
	return ok
}

// metered reports whether a binary op must be charged.
func metered(op syntax.Token, x, y syntax.Expr) bool {
	switch op {
	case syntax.PLUS, syntax.PERCENT:
		return !isNumber(x) && !isNumber(y) && !(isLiteral(x) && isLiteral(y))
	case syntax.STAR:
		// "x" * 1000000000 is two literals and builds a gigabyte.
		return !(isNumber(x) && isNumber(y))
	}
	return false
}

func hookIdent(name string, pos syntax.Position) *syntax.Ident {
	return &syntax.Ident{NamePos: pos, Name: name}
}

func stringLit(s string, pos syntax.Position) *syntax.Literal {
	return &syntax.Literal{Token: syntax.STRING, TokenPos: pos, Raw: fmt.Sprintf("%q", s), Value: s}
}

func hookCall(name string, pos, end syntax.Position, args ...syntax.Expr) *syntax.CallExpr {
	return &syntax.CallExpr{Fn: hookIdent(name, pos), Lparen: pos, Args: args, Rparen: end}
}

func guardAug(s *syntax.AssignStmt) syntax.Stmt {
	var op syntax.Token
	switch s.Op {
	case syntax.PLUS_EQ:
		op = syntax.PLUS
	case syntax.STAR_EQ:
		op = syntax.STAR
	default:
		op = syntax.PERCENT
	}
	lhs := s.LHS
	for {
		p, ok := lhs.(*syntax.ParenExpr)
		if !ok {
			break
		}
		lhs = p.X
	}
	if !metered(op, lhs, s.RHS) {
		s.LHS = guardTarget(s.LHS)
		return s
	}
	_, end := s.RHS.Span()
	opName := hookMul
	switch op {
	case syntax.PLUS:
		opName = hookIAdd
	case syntax.PERCENT:
		opName = hookMod
	}
	switch l := lhs.(type) {
	case *syntax.Ident:
		// x += y  ->  x = +=(x, y): the same binding, evaluated once.
		read := &syntax.Ident{NamePos: l.NamePos, Name: l.Name}
		return &syntax.AssignStmt{OpPos: s.OpPos, Op: syntax.EQ, LHS: l,
			RHS: hookCall(opName, s.OpPos, end, read, s.RHS)}
	case *syntax.IndexExpr:
		return &syntax.ExprStmt{X: hookCall(hookAugItem, s.OpPos, end,
			stringLit(opName, s.OpPos), guardExpr(l.X), guardExpr(l.Y), s.RHS)}
	case *syntax.DotExpr:
		return &syntax.ExprStmt{X: hookCall(hookAugAttr, s.OpPos, end,
			stringLit(opName, s.OpPos), guardExpr(l.X), stringLit(l.Name.Name, l.NamePos), s.RHS)}
	}
	s.LHS = guardTarget(s.LHS) // not a valid target: the resolver reports it
	return s
}

func guardExprs(list []syntax.Expr) {
	for i := range list {
		list[i] = guardExpr(list[i])
	}
}

func guardExpr(e syntax.Expr) syntax.Expr {
	switch e := e.(type) {
	case *syntax.BinaryExpr:
		e.X, e.Y = guardExpr(e.X), guardExpr(e.Y)
		if !metered(e.Op, e.X, e.Y) {
			return e
		}
		name := map[syntax.Token]string{syntax.PLUS: hookAdd, syntax.STAR: hookMul, syntax.PERCENT: hookMod}[e.Op]
		_, end := e.Y.Span()
		return hookCall(name, e.OpPos, end, e.X, e.Y)
	case *syntax.CallExpr:
		for i, a := range e.Args {
			switch a := a.(type) {
			case *syntax.BinaryExpr:
				if a.Op == syntax.EQ { // name=value
					a.Y = guardExpr(a.Y)
					continue
				}
			case *syntax.UnaryExpr:
				if a.Op == syntax.STAR || a.Op == syntax.STARSTAR { // *args, **kwargs
					a.X = guardExpr(a.X)
					continue
				}
			}
			e.Args[i] = guardExpr(a)
		}
		if dot, ok := e.Fn.(*syntax.DotExpr); ok && meteredMethods[dot.Name.Name] {
			args := append([]syntax.Expr{guardExpr(dot.X), stringLit(dot.Name.Name, dot.NamePos)}, e.Args...)
			return &syntax.CallExpr{Fn: hookIdent(hookMethod, dot.Dot), Lparen: e.Lparen, Args: args, Rparen: e.Rparen}
		}
		e.Fn = guardExpr(e.Fn)
	case *syntax.Comprehension:
		e.Body = guardExpr(e.Body)
		for _, c := range e.Clauses {
			switch c := c.(type) {
			case *syntax.ForClause:
				c.Vars = guardTarget(c.Vars)
				c.X = guardExpr(c.X)
			case *syntax.IfClause:
				c.Cond = guardExpr(c.Cond)
			}
		}
	case *syntax.CondExpr:
		e.Cond, e.True, e.False = guardExpr(e.Cond), guardExpr(e.True), guardExpr(e.False)
	case *syntax.DictExpr:
		guardExprs(e.List)
	case *syntax.DictEntry:
		e.Key, e.Value = guardExpr(e.Key), guardExpr(e.Value)
	case *syntax.DotExpr:
		e.X = guardExpr(e.X)
		if meteredMethods[e.Name.Name] {
			// f = sep.join; f(l) must be metered too
			return hookCall(hookAttr, e.Dot, e.Name.NamePos, e.X, stringLit(e.Name.Name, e.NamePos))
		}
	case *syntax.IndexExpr:
		e.X, e.Y = guardExpr(e.X), guardExpr(e.Y)
	case *syntax.LambdaExpr:
		guardParams(e.Params)
		e.Body = guardExpr(e.Body)
	case *syntax.ListExpr:
		guardExprs(e.List)
	case *syntax.TupleExpr:
		guardExprs(e.List)
	case *syntax.ParenExpr:
		e.X = guardExpr(e.X)
	case *syntax.SliceExpr:
		e.X = guardExpr(e.X)
		if e.Lo != nil {
			e.Lo = guardExpr(e.Lo)
		}
		if e.Hi != nil {
			e.Hi = guardExpr(e.Hi)
		}
		if e.Step != nil {
			e.Step = guardExpr(e.Step)
		}
	case *syntax.UnaryExpr:
		if e.X != nil {
			e.X = guardExpr(e.X)
		}
	}
	return e
}

// --- the hooks ---

// guardedPredeclared returns pre with the hooks added and the amplifying
// builtins wrapped. pre is not modified.
func guardedPredeclared(pre starlark.StringDict) starlark.StringDict {
	out := make(starlark.StringDict, len(pre)+16)
	for k, v := range pre {
		out[k] = v
	}
	out[hookAdd] = starlark.NewBuiltin(hookAdd, binaryHook(syntax.PLUS))
	out[hookMul] = starlark.NewBuiltin(hookMul, binaryHook(syntax.STAR))
	out[hookMod] = starlark.NewBuiltin(hookMod, binaryHook(syntax.PERCENT))
	out[hookIAdd] = starlark.NewBuiltin(hookIAdd, iaddHook)
	out[hookAugItem] = starlark.NewBuiltin(hookAugItem, augItemHook)
	out[hookAugAttr] = starlark.NewBuiltin(hookAugAttr, augAttrHook)
	out[hookMethod] = starlark.NewBuiltin(hookMethod, methodHook)
	out[hookAttr] = starlark.NewBuiltin(hookAttr, attrHook)
	for _, name := range []string{"range", "str", "repr", "sorted", "getattr"} {
		if _, shadowed := pre[name]; !shadowed {
			out[name] = starlark.NewBuiltin(name, universeWrapper(name))
		}
	}
	if m, ok := pre["json"].(*starlarkstruct.Module); ok {
		out["json"] = guardJSON(m)
	}
	return out
}

func budgetOf(thread *starlark.Thread) *bindings.Budget { return bindings.BudgetOf(thread) }

// binaryHook implements +, * and % with their results charged first.
func binaryHook(op syntax.Token) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		return meteredBinary(thread, op, args[0], args[1])
	}
}

func meteredBinary(thread *starlark.Thread, op syntax.Token, x, y starlark.Value) (starlark.Value, error) {
	bud := budgetOf(thread)
	what := op.String()
	if err := bud.CheckCallDepth(thread, what); err != nil {
		return nil, err
	}
	if op == syntax.PERCENT {
		if _, ok := x.(starlark.String); ok {
			return meteredFormat(thread, what, x, y)
		}
	}
	if err := bud.Charge(what, resultSize(op, x, y)); err != nil {
		return nil, err
	}
	if op == syntax.STAR {
		if steps := mulSteps(x, y); steps > 0 {
			if err := bud.ChargeSteps(thread, what, steps); err != nil {
				return nil, err
			}
		}
	}
	return starlark.Binary(op, x, y)
}

// mulSteps returns the steps a multiplication of two big ints is charged:
// one per 64 word products, an overestimate of Go's Karatsuba, so that
// squaring a number in a loop runs out of steps before one product
// outlasts the call's timeout. Products of 64-bit ints cost nothing.
func mulSteps(x, y starlark.Value) uint64 {
	a, b := intBytes(x), intBytes(y)
	if a == 0 && b == 0 {
		return 0
	}
	if _, ok := x.(starlark.Int); !ok {
		return 0
	}
	if _, ok := y.(starlark.Int); !ok {
		return 0
	}
	wa, wb := uint64(a/8+1), uint64(b/8+1)
	hi, lo := bits.Mul64(wa, wb)
	if hi != 0 {
		return math.MaxUint64
	}
	return lo/64 + 1
}

// meteredFormat implements fmt % args: the estimate of the arguments'
// text is charged before formatting, the rest after.
func meteredFormat(thread *starlark.Thread, what string, x, y starlark.Value) (starlark.Value, error) {
	charged, err := bindings.PrecheckSize(thread, what, y)
	if err != nil {
		return nil, err
	}
	if err := budgetOf(thread).Charge(what, int64(len(x.(starlark.String)))); err != nil {
		return nil, err
	}
	z, err := starlark.Binary(syntax.PERCENT, x, y)
	if err != nil {
		return nil, err
	}
	if s, ok := z.(starlark.String); ok {
		err = bindings.ChargeActual(thread, what, int64(len(s))-int64(len(x.(starlark.String))), charged)
	}
	return z, err
}

// seqLen returns the length of a string, bytes, list or tuple.
func seqLen(v starlark.Value) (int64, bool) {
	switch x := v.(type) {
	case starlark.String:
		return int64(len(x)), true
	case starlark.Bytes:
		return int64(len(x)), true
	case *starlark.List:
		return int64(x.Len()) * bindings.ValueSlot, true
	case starlark.Tuple:
		return int64(len(x)) * bindings.ValueSlot, true
	}
	return 0, false
}

// intBytes returns the bytes of a big int, 0 for one that fits 64 bits.
func intBytes(v starlark.Value) int64 {
	i, ok := v.(starlark.Int)
	if !ok {
		return 0
	}
	if _, small := i.Int64(); small {
		return 0
	}
	return int64(i.BigInt().BitLen()/8 + 1)
}

// resultSize returns the bytes x op y builds, 0 when small or unknown
// (the operation then fails on its own or builds a constant amount).
func resultSize(op syntax.Token, x, y starlark.Value) int64 {
	switch op {
	case syntax.PLUS:
		if a, ok := seqLen(x); ok {
			if b, ok := seqLen(y); ok {
				return bindings.Add(a, b)
			}
		}
		if a, b := intBytes(x), intBytes(y); a > 0 || b > 0 {
			return max(a, b) + 1
		}
	case syntax.STAR:
		if n, ok := y.(starlark.Int); ok {
			if a, ok := seqLen(x); ok {
				return repeatSize(a, n)
			}
		}
		if n, ok := x.(starlark.Int); ok {
			if a, ok := seqLen(y); ok {
				return repeatSize(a, n)
			}
		}
		if a, b := intBytes(x), intBytes(y); a > 0 || b > 0 {
			// A small factor has at most 8 bytes.
			return max(a, 8) + max(b, 8)
		}
	}
	return 0
}

func repeatSize(size int64, n starlark.Int) int64 {
	c, ok := n.Int64()
	if !ok {
		if n.Sign() > 0 {
			return math.MaxInt64
		}
		return 0
	}
	return bindings.Mul(size, c)
}

// iaddHook implements x += y: a list is extended in place (so aliases
// see the change, as with the += bytecode), anything else is x + y.
func iaddHook(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	return inplaceAdd(thread, args[0], args[1])
}

func inplaceAdd(thread *starlark.Thread, x, y starlark.Value) (starlark.Value, error) {
	l, ok := x.(*starlark.List)
	if !ok {
		return meteredBinary(thread, syntax.PLUS, x, y)
	}
	it, ok := y.(starlark.Iterable)
	if !ok {
		return meteredBinary(thread, syntax.PLUS, x, y)
	}
	bud := budgetOf(thread)
	if err := bud.CheckCallDepth(thread, "+="); err != nil {
		return nil, err
	}
	before := l.Len()
	known := false
	if s, ok := it.(starlark.Sequence); ok {
		known = true
		if err := bud.Charge("+=", bindings.Mul(int64(s.Len()), bindings.ValueSlot)); err != nil {
			return nil, err
		}
	}
	extend, _ := l.Attr("extend")
	if _, err := starlark.Call(thread, extend, starlark.Tuple{y}, nil); err != nil {
		msg := err.Error()
		if ee, ok := err.(*starlark.EvalError); ok {
			msg = ee.Msg
		}
		switch {
		case strings.Contains(msg, "frozen"):
			return nil, fmt.Errorf("cannot apply += to frozen list")
		case strings.Contains(msg, "iteration"):
			return nil, fmt.Errorf("cannot apply += to list during iteration")
		}
		return nil, err
	}
	if !known {
		return l, bud.Charge("+=", bindings.Mul(int64(l.Len()-before), bindings.ValueSlot))
	}
	return l, nil
}

// applyAug computes `cur op= y` for the augmented-assignment hooks.
func applyAug(thread *starlark.Thread, op string, cur, y starlark.Value) (starlark.Value, error) {
	switch op {
	case hookIAdd:
		return inplaceAdd(thread, cur, y)
	case hookMul:
		return meteredBinary(thread, syntax.STAR, cur, y)
	case hookMod:
		return meteredBinary(thread, syntax.PERCENT, cur, y)
	}
	return nil, fmt.Errorf("internal error: augmented assignment %q", op)
}

// augItemHook implements e[k] op= y, evaluating e and k once.
func augItemHook(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	op, _ := starlark.AsString(args[0])
	x, k, y := args[1], args[2], args[3]
	cur, err := getIndex(x, k)
	if err != nil {
		return nil, err
	}
	z, err := applyAug(thread, op, cur, y)
	if err != nil {
		return nil, err
	}
	return starlark.None, setIndex(x, k, z)
}

// augAttrHook implements e.f op= y, evaluating e once.
func augAttrHook(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	op, _ := starlark.AsString(args[0])
	x, y := args[1], args[3]
	name, _ := starlark.AsString(args[2])
	cur, err := getAttr(x, name)
	if err != nil {
		return nil, err
	}
	z, err := applyAug(thread, op, cur, y)
	if err != nil {
		return nil, err
	}
	f, ok := x.(starlark.HasSetField)
	if !ok {
		return nil, fmt.Errorf("can't assign to .%s field of %s", name, x.Type())
	}
	return starlark.None, f.SetField(name, z)
}

func getAttr(x starlark.Value, name string) (starlark.Value, error) {
	if h, ok := x.(starlark.HasAttrs); ok {
		v, err := h.Attr(name)
		if err != nil {
			return nil, err
		}
		if v != nil {
			return v, nil
		}
	}
	return nil, fmt.Errorf("%s has no .%s field or method", x.Type(), name)
}

// index resolves a possibly negative index into a sequence of length n.
func index(x, k starlark.Value, n int) (int, error) {
	i, err := starlark.AsInt32(k)
	if err != nil {
		return 0, fmt.Errorf("%s index: %s", x.Type(), err)
	}
	orig := i
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		if n == 0 {
			return 0, fmt.Errorf("index %d out of range: empty %s", orig, x.Type())
		}
		return 0, fmt.Errorf("%s index %d out of range [%d:%d]", x.Type(), orig, -n, n-1)
	}
	return i, nil
}

func getIndex(x, k starlark.Value) (starlark.Value, error) {
	switch x := x.(type) {
	case starlark.Mapping:
		v, found, err := x.Get(k)
		if err != nil {
			return nil, err
		}
		if !found {
			return nil, fmt.Errorf("key %v not in %s", k, x.Type())
		}
		return v, nil
	case starlark.Indexable:
		i, err := index(x, k, x.Len())
		if err != nil {
			return nil, err
		}
		return x.Index(i), nil
	}
	return nil, fmt.Errorf("unhandled index operation %s[%s]", x.Type(), k.Type())
}

func setIndex(x, k, v starlark.Value) error {
	switch x := x.(type) {
	case starlark.HasSetKey:
		return x.SetKey(k, v)
	case starlark.HasSetIndex:
		i, err := index(x, k, x.Len())
		if err != nil {
			return err
		}
		return x.SetIndex(i, v)
	}
	return fmt.Errorf("%s value does not support item assignment", x.Type())
}

// methodHook implements r.name(args...) for the metered methods.
func methodHook(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	recv := args[0]
	name, _ := starlark.AsString(args[1])
	fn, err := getAttr(recv, name)
	if err != nil {
		return nil, err
	}
	return callMethod(thread, recv, name, fn, args[2:], kwargs)
}

// attrHook implements r.name for a metered method name outside a call:
// the bound method it returns is metered like a direct call.
func attrHook(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
	recv := args[0]
	name, _ := starlark.AsString(args[1])
	v, err := getAttr(recv, name)
	if err != nil {
		return nil, err
	}
	return meteredAttr(recv, name, v), nil
}

// meteredAttr wraps v, the attribute name of recv, when it is a method
// whose result callMethod meters.
func meteredAttr(recv starlark.Value, name string, v starlark.Value) starlark.Value {
	if !meteredMethods[name] {
		return v
	}
	switch recv.(type) {
	case starlark.String, *starlark.List:
	default:
		return v
	}
	if _, ok := v.(*starlark.Builtin); !ok {
		return v
	}
	return starlark.NewBuiltin(name, func(thread *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return callMethod(thread, recv, name, v, args, kwargs)
	}).BindReceiver(recv) // prints as the method it stands for
}

// callMethod calls fn, the method name of recv: the result of join,
// replace and extend is charged before it is built; format's arguments
// are estimated first and the rest charged after.
func callMethod(thread *starlark.Thread, recv starlark.Value, name string, fn starlark.Value, rest starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	bud := budgetOf(thread)
	if err := bud.CheckCallDepth(thread, name); err != nil {
		return nil, err
	}
	what := recv.Type() + "." + name
	var charged, before int64
	switch r := recv.(type) {
	case starlark.String:
		switch name {
		case "join":
			if len(rest) == 1 && len(kwargs) == 0 {
				if err := bud.Charge(what, joinSize(string(r), rest[0])); err != nil {
					return nil, err
				}
			}
		case "replace":
			if err := bud.Charge(what, replaceSize(string(r), rest)); err != nil {
				return nil, err
			}
		case "format":
			// Each {} may print any argument: charge the largest one's
			// estimate per placeholder, plus the format itself.
			var largest int64
			for _, a := range rest {
				n, err := estimate(thread, what, a)
				if err != nil {
					return nil, err
				}
				largest = max(largest, n)
			}
			for _, kv := range kwargs {
				n, err := estimate(thread, what, kv[1])
				if err != nil {
					return nil, err
				}
				largest = max(largest, n)
			}
			charged = bindings.Add(int64(len(r)), bindings.Mul(int64(strings.Count(string(r), "{")), largest))
			if err := bud.Charge(what, charged); err != nil {
				return nil, err
			}
		}
	case *starlark.List:
		if name == "extend" && len(rest) == 1 {
			before = int64(r.Len())
			if s, ok := rest[0].(starlark.Sequence); ok {
				charged = bindings.Mul(int64(s.Len()), bindings.ValueSlot)
				if err := bud.Charge(what, charged); err != nil {
					return nil, err
				}
			}
		}
	}
	v, err := starlark.Call(thread, fn, rest, kwargs)
	if err != nil {
		return nil, err
	}
	switch r := recv.(type) {
	case starlark.String:
		if s, ok := v.(starlark.String); ok && name == "format" {
			err = bindings.ChargeActual(thread, what, int64(len(s)), charged)
		}
	case *starlark.List:
		if name == "extend" {
			err = bindings.ChargeActual(thread, what, bindings.Mul(int64(r.Len())-before, bindings.ValueSlot), charged)
		}
	}
	return v, err
}

// estimate returns the estimated printed size of v (see bindings.Measure).
func estimate(thread *starlark.Thread, what string, v starlark.Value) (int64, error) {
	est, err := bindings.Measure(thread, what, v)
	return est.Bytes, err
}

// joinSize returns the length of sep.join(it) when every element is a
// string; 0 when the join will fail anyway.
func joinSize(sep string, it starlark.Value) int64 {
	iterable, ok := it.(starlark.Iterable)
	if !ok {
		return 0
	}
	var n, count int64
	for e := range starlark.Elements(iterable) {
		s, ok := e.(starlark.String)
		if !ok {
			return 0
		}
		n = bindings.Add(n, int64(len(s)))
		count++
	}
	if count > 1 {
		n = bindings.Add(n, bindings.Mul(int64(len(sep)), count-1))
	}
	return n
}

// replaceSize returns the length of s.replace(old, new[, count]); 0 when
// the arguments are not what replace takes.
func replaceSize(s string, args starlark.Tuple) int64 {
	if len(args) < 2 {
		return 0
	}
	old, ok1 := args[0].(starlark.String)
	repl, ok2 := args[1].(starlark.String)
	if !ok1 || !ok2 || len(repl) <= len(old) {
		return 0
	}
	var count int64
	if old == "" {
		count = int64(len([]rune(s))) + 1 // between every rune and at both ends
	} else {
		count = int64(strings.Count(s, string(old)))
	}
	if len(args) > 2 {
		var limit int64
		if err := starlark.AsInt(args[2], &limit); err == nil && limit >= 0 {
			count = min(count, limit)
		}
	}
	return bindings.Add(int64(len(s)), bindings.Mul(count, int64(len(repl)-len(old))))
}

// universeWrapper wraps a universal builtin.
func universeWrapper(name string) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	orig := starlark.Universe[name]
	switch name {
	case "range":
		return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			v, err := starlark.Call(thread, orig, args, kwargs)
			if err != nil {
				return nil, err
			}
			// A range costs nothing until a builtin materializes it
			// (list, sorted, zip, extend, ...), which the budget cannot
			// see; so no range may hold more elements than the call
			// could build.
			if s, ok := v.(starlark.Sequence); ok {
				if left := budgetOf(thread).Remaining(); left >= 0 && bindings.Mul(int64(s.Len()), bindings.ValueSlot) > left {
					return nil, fmt.Errorf("range: %d elements are more than max_build_bytes allows this call to build (%d bytes left, %d per element)", s.Len(), left, bindings.ValueSlot)
				}
			}
			return v, nil
		}
	case "str", "repr":
		return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(args) == 1 && len(kwargs) == 0 {
				if s, ok := args[0].(starlark.String); ok && name == "str" {
					return s, nil
				}
				charged, err := bindings.PrecheckSize(thread, name, args[0])
				if err != nil {
					return nil, err
				}
				return callSettled(thread, name, charged, orig, args, kwargs)
			}
			return starlark.Call(thread, orig, args, kwargs)
		}
	case "getattr":
		return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			v, err := starlark.Call(thread, orig, args, kwargs)
			if err != nil || len(args) < 2 {
				return v, err
			}
			name, _ := starlark.AsString(args[1])
			return meteredAttr(args[0], name, v), nil
		}
	case "sorted":
		return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if len(args) >= 1 {
				if s, ok := args[0].(starlark.Sequence); ok {
					n := int64(s.Len())
					bud := budgetOf(thread)
					if err := bud.Charge(name, bindings.Mul(n, bindings.ValueSlot)); err != nil {
						return nil, err
					}
					// Sorting takes about n·log2(n) comparisons, each
					// worth a step or more (a key function runs as
					// Starlark and counts its own steps too).
					if n > 1 {
						if err := bud.ChargeSteps(thread, name, uint64(n)*uint64(bits.Len64(uint64(n)))); err != nil {
							return nil, err
						}
					}
				}
			}
			return starlark.Call(thread, orig, args, kwargs)
		}
	}
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		return starlark.Call(thread, orig, args, kwargs)
	}
}

// guardJSON returns a copy of the json module whose encoders estimate
// their output first and whose decoders check nesting against max_depth
// (the decoder recurses per level: millions of '[' overflow the Go
// stack, which kills the process).
func guardJSON(m *starlarkstruct.Module) *starlarkstruct.Module {
	members := make(starlark.StringDict, len(m.Members))
	for k, v := range m.Members {
		members[k] = v
	}
	wrap := func(name string, f func(thread *starlark.Thread, orig starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)) {
		orig, ok := m.Members[name]
		if !ok {
			return
		}
		members[name] = starlark.NewBuiltin(m.Name+"."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return f(thread, orig, args, kwargs)
		})
	}
	encoder := func(what string, indented bool) func(*starlark.Thread, starlark.Value, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return func(thread *starlark.Thread, orig starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var charged int64
			if len(args) >= 1 {
				est, err := bindings.Measure(thread, what, args[0])
				if err != nil {
					return nil, err
				}
				charged = est.Bytes
				if indented {
					// every element starts a line indented to its depth
					charged = bindings.Add(charged, bindings.Mul(est.Items, bindings.Mul(int64(est.Depth), indentWidth(kwargs))))
				}
				if err := budgetOf(thread).Charge(what, charged); err != nil {
					return nil, err
				}
			}
			return callSettled(thread, what, charged, orig, args, kwargs)
		}
	}
	wrap("encode", encoder("json.encode", false))
	wrap("encode_indent", encoder("json.encode_indent", true))
	wrap("decode", func(thread *starlark.Thread, orig starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) >= 1 {
			if s, ok := args[0].(starlark.String); ok {
				if _, _, err := bindings.CheckJSONDepth(string(s), budgetOf(thread).Depth()); err != nil {
					return nil, fmt.Errorf("json.decode: %w", err)
				}
			}
		}
		return starlark.Call(thread, orig, args, kwargs)
	})
	wrap("indent", func(thread *starlark.Thread, orig starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		what := "json.indent"
		var charged int64
		if len(args) >= 1 {
			if s, ok := args[0].(starlark.String); ok {
				bud := budgetOf(thread)
				depth, items, err := bindings.CheckJSONDepth(string(s), bud.Depth())
				if err != nil {
					return nil, fmt.Errorf("%s: %w", what, err)
				}
				charged = bindings.Add(int64(len(s)), bindings.Mul(int64(items+1), bindings.Mul(int64(depth), indentWidth(kwargs))))
				if err := bud.Charge(what, charged); err != nil {
					return nil, err
				}
			}
		}
		return callSettled(thread, what, charged, orig, args, kwargs)
	})
	return &starlarkstruct.Module{Name: m.Name, Members: members}
}

// callSettled calls orig, which builds a string, after charged bytes were
// charged for it, and settles the charge against the string's length.
func callSettled(thread *starlark.Thread, what string, charged int64, orig starlark.Value, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	v, err := starlark.Call(thread, orig, args, kwargs)
	if err != nil {
		return nil, err
	}
	s, _ := v.(starlark.String)
	return v, bindings.ChargeActual(thread, what, int64(len(s)), charged)
}

// indentWidth returns len(prefix)+len(indent) of encode_indent's and
// indent's keyword arguments (indent defaults to a tab).
func indentWidth(kwargs []starlark.Tuple) int64 {
	n := int64(1)
	for _, kv := range kwargs {
		k, _ := starlark.AsString(kv[0])
		s, _ := kv[1].(starlark.String)
		switch k {
		case "prefix":
			n += int64(len(s))
		case "indent":
			n += int64(len(s)) - 1
		}
	}
	return max(n, 1)
}
