package authoring

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"go.starlark.net/syntax"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"already formatted", "def on_request(req, conf):\n    pass\n", "def on_request(req, conf):\n    pass\n"},
		{"spacing and indentation",
			"def on_request( req,conf ):\n  if req.path=='/': return respond(403,body='no')\n",
			"def on_request(req, conf):\n    if req.path == \"/\":\n        return respond(403, body = \"no\")\n"},
		{"comments kept", "# head\nX = [1,2] # trailing\n", "# head\nX = [1, 2]  # trailing\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Format("x.star", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
			again, err := Format("x.star", got)
			if err != nil || string(again) != string(got) {
				t.Errorf("formatting is not idempotent: %q, %v", again, err)
			}
		})
	}
}

func TestFormatErrors(t *testing.T) {
	_, err := Format("w.star", []byte("def f():\n    while True:\n        pass\n"))
	if !errors.Is(err, ErrFormatUnsupported) {
		t.Errorf("while loop: got %v, want ErrFormatUnsupported", err)
	}
	_, err = Format("s.star", []byte("def f(:\n"))
	var se syntax.Error
	if !errors.As(err, &se) || se.Pos.Line != 1 {
		t.Errorf("syntax error: got %v, want a syntax.Error on line 1", err)
	}
}

func TestFormatFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.star")
	if err := os.WriteFile(path, []byte("X=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := FormatFile(path, false); !changed || err != nil {
		t.Errorf("check: got %v, %v, want changed", changed, err)
	}
	if data, _ := os.ReadFile(path); string(data) != "X=1\n" {
		t.Errorf("check wrote the file: %q", data)
	}
	if changed, err := FormatFile(path, true); !changed || err != nil {
		t.Errorf("write: got %v, %v, want changed", changed, err)
	}
	if data, _ := os.ReadFile(path); string(data) != "X = 1\n" {
		t.Errorf("after write: %q", data)
	}
	if changed, err := FormatFile(path, true); changed || err != nil {
		t.Errorf("second write: got %v, %v, want unchanged", changed, err)
	}
}

func TestStarFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{"b.star": "", "a_test.star": "", "c.txt": ""})
	for _, sub := range []string{"lib", ".hidden"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, "m.star"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flat, err := StarFiles([]string{dir}, false)
	if err != nil || len(flat) != 2 || filepath.Base(flat[0]) != "a_test.star" {
		t.Errorf("flat: got %v, %v", flat, err)
	}
	deep, err := StarFiles([]string{dir}, true)
	if err != nil || len(deep) != 3 || deep[2] != filepath.Join(dir, "lib", "m.star") {
		t.Errorf("recursive: got %v, %v", deep, err)
	}
	if _, err := StarFiles([]string{filepath.Join(dir, "absent")}, false); err == nil {
		t.Error("absent path: got no error")
	}
}
