package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// load() reads modules from the scripts directory's lib/ only:
// load("lib/x.star", "f") and load("x.star", "f") both name lib/x.star,
// in scripts and in lib files alike. A module is compiled with the same
// dialect and metering as scripts, its top level runs once per version
// (its content and the content of what it loads), and its globals are
// frozen and shared by every script that loads it.

const libDir = "lib"

var libSegment = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// libPath maps a load() module name to its file, relative to the scripts
// directory.
func libPath(module string) (string, error) {
	if strings.HasPrefix(module, "/") || strings.Contains(module, `\`) {
		return "", fmt.Errorf("want a path under lib/, not %q", module)
	}
	rest := strings.TrimPrefix(module, libDir+"/")
	if !strings.HasSuffix(rest, ".star") {
		return "", fmt.Errorf("want a file name ending in .star, got %q", module)
	}
	for _, seg := range strings.Split(rest, "/") {
		if !libSegment.MatchString(seg) {
			return "", fmt.Errorf("invalid module path %q: want lib/name.star with letters, digits, '_', '.', '-' and no '..'", module)
		}
	}
	return libDir + "/" + rest, nil
}

// libModule is one loaded version of a lib file.
type libModule struct {
	path    string
	digest  []byte              // of its content and of what it loads
	globals starlark.StringDict // frozen
}

// maxLibCache bounds the compiled-lib caches; past it they start over.
const maxLibCache = 1024

// loader resolves the loads of one script compilation.
type loader struct {
	e     *Engine
	done  map[string]*libModule // by path
	stack []string              // paths being loaded, for cycles
}

func (e *Engine) newLoader() *loader { return &loader{e: e, done: map[string]*libModule{}} }

// resolve loads every module prog loads and returns them by the name the
// load statement gives. Errors name the loading file and line.
func (ld *loader) resolve(prog *starlark.Program) (map[string]*libModule, error) {
	if prog.NumLoads() == 0 {
		return nil, nil
	}
	deps := make(map[string]*libModule, prog.NumLoads())
	for i := range prog.NumLoads() {
		name, pos := prog.Load(i)
		m, err := ld.lib(name)
		if err != nil {
			return nil, fmt.Errorf("%s: load(%q): %w", pos, name, err)
		}
		deps[name] = m
	}
	return deps, nil
}

// loadFunc returns the Thread.Load of a program whose loads are deps.
func loadFunc(deps map[string]*libModule) func(*starlark.Thread, string) (starlark.StringDict, error) {
	return func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
		if m := deps[module]; m != nil {
			return m.globals, nil
		}
		return nil, fmt.Errorf("load(%q): not resolved", module)
	}
}

func (ld *loader) lib(module string) (*libModule, error) {
	path, err := libPath(module)
	if err != nil {
		return nil, err
	}
	if m := ld.done[path]; m != nil {
		return m, nil
	}
	for i, p := range ld.stack {
		if p == path {
			return nil, fmt.Errorf("load cycle: %s -> %s", strings.Join(ld.stack[i:], " -> "), path)
		}
	}
	if len(ld.stack) >= bindings.DefaultMaxDepth {
		return nil, errors.New("loads nest too deeply")
	}
	src, err := fs.ReadFile(ld.e.cfg.FS, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s not found in the scripts directory", path)
		}
		return nil, err
	}
	ld.stack = append(ld.stack, path)
	defer func() { ld.stack = ld.stack[:len(ld.stack)-1] }()

	sum := sha256.Sum256(src)
	prog, err := ld.e.libProgram(path, src, sum)
	if err != nil {
		return nil, err
	}
	deps, err := ld.resolve(prog)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(sum[:])
	for i := range prog.NumLoads() {
		name, _ := prog.Load(i)
		h.Write(deps[name].digest)
	}
	digest := h.Sum(nil)
	key := path + "@" + hex.EncodeToString(digest)
	if m := ld.e.cachedLib(key); m != nil {
		ld.done[path] = m
		return m, nil
	}
	thread := ld.e.loadThread("load "+path, path, hex.EncodeToString(digest)[:12])
	thread.Load = loadFunc(deps)
	globals, err := runWithTimeout(thread, ld.e.cfg.Timeout, func() (starlark.StringDict, error) {
		return prog.Init(thread, ld.e.pre)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: top level: %w", path, err)
	}
	globals.Freeze()
	m := &libModule{path: path, digest: digest, globals: globals}
	ld.e.cacheLib(key, m)
	ld.done[path] = m
	return m, nil
}

// libProgram compiles a lib file, reusing the compilation of the same
// path and content.
func (e *Engine) libProgram(path string, src []byte, sum [32]byte) (*starlark.Program, error) {
	key := path + "@" + hex.EncodeToString(sum[:])
	e.libMu.Lock()
	prog := e.libProgs[key]
	e.libMu.Unlock()
	if prog != nil {
		return prog, nil
	}
	prog, err := e.compileProgram(path, src)
	if err != nil {
		return nil, err
	}
	e.libMu.Lock()
	if len(e.libProgs) >= maxLibCache {
		clear(e.libProgs)
	}
	e.libProgs[key] = prog
	e.libMu.Unlock()
	return prog, nil
}

func (e *Engine) cachedLib(key string) *libModule {
	e.libMu.Lock()
	defer e.libMu.Unlock()
	return e.libMods[key]
}

func (e *Engine) cacheLib(key string, m *libModule) {
	e.libMu.Lock()
	defer e.libMu.Unlock()
	if len(e.libMods) >= maxLibCache {
		clear(e.libMods)
	}
	e.libMods[key] = m
}

// compileProgram parses src in scriptrunner's dialect, meters it (see
// guard.go) and compiles it against the engine's predeclared names.
func (e *Engine) compileProgram(file string, src []byte) (*starlark.Program, error) {
	f, err := fileOptions.Parse(file, src, 0)
	if err != nil {
		return nil, err
	}
	guardFile(f)
	return starlark.FileProgram(f, e.pre.Has)
}

// versionDigest returns the hex SHA-256 identifying a version of a
// script: of its content alone when it loads nothing, otherwise of its
// content and of the content of every lib file it loads, directly or
// not. A changed lib file therefore makes a new version of each script
// that loads it, which hot reload then validates and swaps in. Files
// that do not parse or load nothing readable still get a digest; their
// compilation reports the error.
func (e *Engine) versionDigest(file string, src []byte) string {
	sum := sha256.Sum256(src)
	if !bytes.Contains(src, []byte("load")) {
		return hex.EncodeToString(sum[:])
	}
	h := sha256.New()
	h.Write(sum[:])
	n := e.hashLoads(h, file, src, map[string]bool{})
	if n == 0 {
		return hex.EncodeToString(sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// hashLoads writes the path and content digest of every lib file src
// loads, depth first, into h, and returns how many it wrote.
func (e *Engine) hashLoads(h hash.Hash, file string, src []byte, seen map[string]bool) int {
	f, err := fileOptions.Parse(file, src, 0)
	if err != nil {
		return 0
	}
	n := 0
	for _, stmt := range f.Stmts {
		ld, ok := stmt.(*syntax.LoadStmt)
		if !ok {
			continue
		}
		n++
		path, err := libPath(ld.ModuleName())
		if err != nil {
			fmt.Fprintf(h, "bad %q\n", ld.ModuleName())
			continue
		}
		if seen[path] {
			continue
		}
		seen[path] = true
		data, err := fs.ReadFile(e.cfg.FS, path)
		if err != nil {
			fmt.Fprintf(h, "missing %q\n", path)
			continue
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(h, "%q %x\n", path, sum)
		n += e.hashLoads(h, path, data, seen)
	}
	return n
}
