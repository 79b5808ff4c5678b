package archtest

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestFuzzCorpus checks that every fuzz target of the module has a
// committed seed corpus, testdata/fuzz/<Target>/ next to its test file
// with at least minCorpus inputs, so that `go test` replays them as
// regression cases and `make fuzz` starts from them.
func TestFuzzCorpus(t *testing.T) {
	const minCorpus = 3
	root := filepath.Join("..", "..")
	fuzzFunc := regexp.MustCompile(`^func (Fuzz[A-Za-z0-9_]*)\(`)
	targets := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			m := fuzzFunc.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			targets++
			dir := filepath.Join(filepath.Dir(path), "testdata", "fuzz", m[1])
			entries, err := os.ReadDir(dir)
			if n := len(entries); err != nil || n < minCorpus {
				t.Errorf("%s: %s has %d corpus files in %s, want at least %d (run it with -fuzz, or write go test fuzz v1 files)",
					path, m[1], n, dir, minCorpus)
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if targets == 0 {
		t.Fatal("found no fuzz targets")
	}
}
