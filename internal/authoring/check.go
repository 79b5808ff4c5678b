package authoring

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/scriptrunner/scriptrunner/engine"
)

// CheckResult is what Check found.
type CheckResult struct {
	Scripts, Tests, Confs int // how many were checked
	Diagnostics           Diagnostics
}

// Check compiles the scripts and test files among files (as StarFiles
// lists them) the way the runner and `scriptrunner test` load them: syntax,
// undefined names, the top level, entry-point signatures, LIMITS and
// CONF_SCHEMA; test files must define test_*(t) functions. Each conf is
// then prepared (schema and init) for its script, found among files or in
// scriptsDir, with the engine configuration base (its env allowlist, for
// instance; Dir and FS are replaced).
func Check(files []string, confs []Conf, scriptsDir string, base engine.Config) *CheckResult {
	res := &CheckResult{}
	scripts, tests := splitTests(files)
	k := &checked{scripts: map[string]*engine.Script{}, paths: map[string]string{}}
	for _, path := range scripts {
		res.Scripts++
		name, s, err := compileFile(path, base)
		if _, dup := k.paths[name]; !dup {
			k.scripts[name], k.paths[name] = s, path
		}
		if err != nil {
			res.Diagnostics = append(res.Diagnostics, Diagnose(path, err)...)
		}
	}
	for _, path := range tests {
		res.Tests++
		if _, err := LoadTestFile(path); err != nil {
			res.Diagnostics = append(res.Diagnostics, Diagnose(path, err)...)
		}
	}
	base.Dir, base.FS = scriptsDir, nil
	eng := engine.New(base, nil)
	for _, c := range confs {
		res.Confs++
		res.Diagnostics = append(res.Diagnostics, k.conf(eng, c, scriptsDir)...)
	}
	return res
}

// compileFile compiles the script file at path under its conf name.
func compileFile(path string, base engine.Config) (string, *engine.Script, error) {
	name, err := scriptName(path)
	if err != nil {
		return "", nil, err
	}
	if err := engine.CheckName(name); err != nil {
		return name, nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return name, nil, err
	}
	base.Dir, base.FS = filepath.Dir(path), nil
	s, err := engine.New(base, nil).Compile(name, src)
	return name, s, err
}

// checked are the scripts Check compiled, by conf name; a script that
// failed to compile has a path and a nil *Script.
type checked struct {
	scripts map[string]*engine.Script
	paths   map[string]string
}

// conf prepares one sample conf, reporting problems at its script.
func (k *checked) conf(eng *engine.Engine, c Conf, scriptsDir string) Diagnostics {
	s, path := k.scripts[c.Name], k.paths[c.Name]
	if path != "" && s == nil {
		return Diagnostics{{File: path, Msg: "conf " + c.Name + ": not checked: the script does not compile"}}
	}
	if s == nil {
		path = filepath.Join(scriptsDir, c.Name+".star")
		var err error
		if s, err = eng.Script(c.Name); err != nil {
			switch {
			case errors.Is(err, engine.ErrNotFound):
				return Diagnostics{{File: "--conf " + c.Name, Msg: fmt.Sprintf("no script %s.star among the checked files or in %s", c.Name, scriptsDir)}}
			case errors.Is(err, engine.ErrBadName):
				return Diagnostics{{File: "--conf " + c.Name, Msg: err.Error()}}
			}
			return prefixed(Diagnose(path, err), "conf "+c.Name+": script does not compile: ")
		}
	}
	if _, err := eng.Prepare(s, []byte(c.Value)); err != nil {
		return prefixed(Diagnose(path, err), "conf "+c.Name+": ")
	}
	return nil
}

func prefixed(ds Diagnostics, prefix string) Diagnostics {
	for i := range ds {
		ds[i].Msg = prefix + ds[i].Msg
	}
	return ds
}

// DiagnoseConf places an error of Sandbox.Chain (an *engine.ConfError) at
// the script of the failing entry in scriptsDir.
func DiagnoseConf(scriptsDir string, err error) Diagnostics {
	var ce *engine.ConfError
	if !errors.As(err, &ce) {
		return Diagnostics{{File: scriptsDir, Msg: err.Error()}}
	}
	prefix := fmt.Sprintf("conf[%d] %s: ", ce.Index, ce.Name)
	path := filepath.Join(scriptsDir, ce.Name+".star")
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return Diagnostics{{File: path, Msg: prefix + "script not found"}}
	case errors.Is(err, engine.ErrBadName):
		return Diagnostics{{File: scriptsDir, Msg: prefix + ce.Err.Error()}}
	}
	return prefixed(Diagnose(path, ce.Err), prefix)
}
