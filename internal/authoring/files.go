package authoring

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TestSuffix ends the name of a test file: <name>_test.star.
const TestSuffix = "_test.star"

// IsTestFile reports whether path names a test file.
func IsTestFile(path string) bool { return strings.HasSuffix(path, TestSuffix) }

// StarFiles returns the .star files named by paths, sorted: a file as
// given, a directory's *.star files (and, with recursive, those of its
// subdirectories, skipping hidden ones).
func StarFiles(paths []string, recursive bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && (!recursive || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(path, ".star") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// splitTests separates test files from scripts.
func splitTests(files []string) (scripts, tests []string) {
	for _, f := range files {
		if IsTestFile(f) {
			tests = append(tests, f)
		} else {
			scripts = append(scripts, f)
		}
	}
	return scripts, tests
}

// scriptName returns the conf name of the script file at path.
func scriptName(path string) (string, error) {
	base := filepath.Base(path)
	name, ok := strings.CutSuffix(base, ".star")
	if !ok {
		return "", fmt.Errorf("%s: a script file name ends in .star", path)
	}
	return name, nil
}

// TestFiles returns the test files named by paths, sorted: a directory's
// *_test.star files, a test file as given, and for a script <name>.star its
// companion <name>_test.star.
func TestFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			files, err := StarFiles([]string{p}, false)
			if err != nil {
				return nil, err
			}
			_, tests := splitTests(files)
			out = append(out, tests...)
			continue
		}
		if !IsTestFile(p) {
			p = strings.TrimSuffix(p, ".star") + TestSuffix
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("no test file for %s: %w", fi.Name(), err)
			}
		}
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}
