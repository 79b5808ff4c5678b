package bindings

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecord is what recordSink keeps of one record.
type logRecord struct {
	level  string
	info   CallInfo
	msg    string
	fields []any
}

// recordSink records every record; with minLevel set it implements
// LevelEnabler and writes only that level and above.
type recordSink struct {
	mu      sync.Mutex
	records []logRecord
}

func (s *recordSink) Log(level string, info *CallInfo, msg string, fields []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, logRecord{level: level, info: *info, msg: msg, fields: fields})
}

func (s *recordSink) take() []logRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records
	s.records = nil
	return r
}

// levelSink is a recordSink that writes only minLevel and above.
type levelSink struct {
	recordSink
	minLevel string
}

func (s *levelSink) Enabled(level string) bool {
	order := map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3}
	return order[level] >= order[s.minLevel]
}

func TestLogRecord(t *testing.T) {
	sink := &recordSink{}
	pre := PredeclaredWith(Options{LogSink: sink})
	info := &CallInfo{RequestID: 42, Script: "auth", Version: "0123456789ab", Phase: "request", Now: stateNow}
	src := `
log.info("hello", user="bob", n=3, f=1.5, ok=True, none=None, big=1 << 70, l=[1, "a"], long="é" * 600)
log.debug("d")
log.warn("w")
log.error(404)
`
	if _, err := stateRun(t, pre, info, src); err != nil {
		t.Fatal(err)
	}
	recs := sink.take()
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	long := strings.Repeat("é", 510) + "…" // 1020 bytes of é (1021 would split one), then the mark
	want := logRecord{level: "info", info: *info, msg: "hello", fields: []any{
		"user", "bob", "n", int64(3), "f", 1.5, "ok", true, "none", nil,
		"big", "1180591620717411303424", "l", `[1, "a"]`, "long", long,
	}}
	if !reflect.DeepEqual(recs[0], want) {
		t.Errorf("got %#v\nwant %#v", recs[0], want)
	}
	if len(long) > MaxLogValueBytes {
		t.Errorf("got a cut value of %d bytes, want at most %d", len(long), MaxLogValueBytes)
	}
	for i, want := range []struct{ level, msg string }{{"debug", "d"}, {"warn", "w"}, {"error", "404"}} {
		if got := recs[i+1]; got.level != want.level || got.msg != want.msg || len(got.fields) != 0 {
			t.Errorf("got %s %q %v, want %s %q and no fields", got.level, got.msg, got.fields, want.level, want.msg)
		}
	}
}

func TestLogErrors(t *testing.T) {
	many := make([]string, 33)
	for i := range many {
		many[i] = fmt.Sprintf("f%d=%d", i, i)
	}
	tests := []struct {
		name    string
		src     string
		wantErr string
	}{
		{name: "reserved field", src: `log.info("m", script="x")`, wantErr: "log.info: field script is reserved"},
		{name: "reserved field at a disabled level", src: `log.debug("m", request_id=1)`, wantErr: "log.debug: field request_id is reserved"},
		{name: "too many fields", src: `log.warn("m", ` + strings.Join(many, ", ") + `)`, wantErr: "log.warn: got 33 fields, want at most 32"},
		{name: "no message", src: `log.info()`, wantErr: "log.info: got 0 arguments, want 1"},
		{name: "two positional", src: `log.info("a", "b")`, wantErr: "log.info: got 2 arguments, want 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := &levelSink{minLevel: "info"}
			pre := PredeclaredWith(Options{LogSink: sink})
			_, err := stateRun(t, pre, &CallInfo{Now: stateNow}, tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLogRateLimit(t *testing.T) {
	sink := &recordSink{}
	pre := PredeclaredWith(Options{LogSink: sink}) // 20/s, burst 50
	run := func(script string, at time.Duration, n int) []logRecord {
		t.Helper()
		info := &CallInfo{Script: script, Now: stateNow.Add(at)}
		src := fmt.Sprintf("def f():\n    for i in range(%d):\n        log.info(\"m\", i=i)\nf()\n", n)
		if _, err := stateRun(t, pre, info, src); err != nil {
			t.Fatal(err)
		}
		return sink.take()
	}
	dropped := func(r logRecord) any {
		for i := 0; i+1 < len(r.fields); i += 2 {
			if r.fields[i] == "dropped" {
				return r.fields[i+1]
			}
		}
		return nil
	}
	if got := run("a", 0, 60); len(got) != 50 || dropped(got[0]) != nil || dropped(got[49]) != nil {
		t.Fatalf("t=0: got %d records, want the 50 of the burst without a dropped count", len(got))
	}
	// Another script has a bucket of its own.
	if got := run("b", 0, 5); len(got) != 5 {
		t.Errorf("script b: got %d records, want 5", len(got))
	}
	got := run("a", time.Second, 30) // 20 tokens
	if len(got) != 20 {
		t.Fatalf("t=1s: got %d records, want 20", len(got))
	}
	if d := dropped(got[0]); d != int64(10) {
		t.Errorf("t=1s: got dropped %v on the first record, want 10", d)
	}
	if d := dropped(got[1]); d != nil {
		t.Errorf("t=1s: got dropped %v on the second record, want none", d)
	}
	got = run("a", 2*time.Second, 1)
	if len(got) != 1 || dropped(got[0]) != int64(10) {
		t.Errorf("t=2s: got %v, want one record with dropped 10", got)
	}
	if want := []any{"i", int64(0), "dropped", int64(10)}; !reflect.DeepEqual(got[0].fields, want) {
		t.Errorf("got fields %v, want %v", got[0].fields, want)
	}
}

func TestLogDisabledLevelCostsNoTokens(t *testing.T) {
	sink := &levelSink{minLevel: "info"}
	pre := PredeclaredWith(Options{LogSink: sink, LogRate: 1, LogBurst: 2})
	src := "def f():\n    for i in range(10):\n        log.debug(\"d\")\n    for i in range(3):\n        log.info(\"i\")\nf()\n"
	if _, err := stateRun(t, pre, &CallInfo{Script: "s", Now: stateNow}, src); err != nil {
		t.Fatal(err)
	}
	recs := sink.take()
	if len(recs) != 2 || recs[0].level != "info" {
		t.Errorf("got %d records, want the 2 info records of the burst", len(recs))
	}
}

func TestLogUnlimited(t *testing.T) {
	sink := &recordSink{}
	pre := PredeclaredWith(Options{LogSink: sink, LogRate: -1})
	src := "def f():\n    for i in range(500):\n        log.error(\"e\")\nf()\n"
	if _, err := stateRun(t, pre, &CallInfo{Script: "s", Now: stateNow}, src); err != nil {
		t.Fatal(err)
	}
	if got := len(sink.take()); got != 500 {
		t.Errorf("got %d records, want 500", got)
	}
}

func TestLogWithoutSink(t *testing.T) {
	if _, err := stateRun(t, Predeclared(), &CallInfo{Now: stateNow}, `log.info("m", k="v")`); err != nil {
		t.Errorf("got %v, want no error (records discarded)", err)
	}
}
