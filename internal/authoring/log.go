package authoring

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// printMessage is the message under which the engine logs a script's
// print() (engine.newThread); its "msg" field is the printed text.
const printMessage = "script print"

// logCapture is a zap core that keeps every entry as one line of text:
// the text of a print(), or "level message key=value …" for anything
// else. It is safe for concurrent use.
type logCapture struct {
	mu    sync.Mutex
	lines []string
}

func (c *logCapture) logger() *zap.Logger { return zap.New(&captureCore{c: c}) }

func (c *logCapture) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.lines
	c.lines = nil
	return out
}

func (c *logCapture) add(line string) {
	c.mu.Lock()
	c.lines = append(c.lines, line)
	c.mu.Unlock()
}

// captureCore is the zapcore.Core of a logCapture; With adds fields.
type captureCore struct {
	c      *logCapture
	fields []zapcore.Field
}

func (cc *captureCore) Enabled(zapcore.Level) bool { return true }
func (cc *captureCore) Sync() error                { return nil }

func (cc *captureCore) With(fields []zapcore.Field) zapcore.Core {
	return &captureCore{c: cc.c, fields: append(slices.Clone(cc.fields), fields...)}
}

func (cc *captureCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, cc)
}

func (cc *captureCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(slices.Clone(cc.fields), fields...) {
		f.AddTo(enc)
	}
	if e.Message == printMessage {
		if msg, ok := enc.Fields["msg"].(string); ok {
			cc.c.add(msg)
			return nil
		}
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(e.Level.String() + " " + e.Message)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, enc.Fields[k])
	}
	cc.c.add(b.String())
	return nil
}
