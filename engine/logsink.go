package engine

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/scriptrunner/scriptrunner/bindings"
)

// logSink writes the log module's records to a zap logger named "script",
// with the call's script, version, phase and request id as typed fields.
// It is safe for concurrent use.
type logSink struct{ log *zap.Logger }

var (
	_ bindings.LogSink      = logSink{}
	_ bindings.LevelEnabler = logSink{}
)

func newLogSink(log *zap.Logger) logSink { return logSink{log: log.Named("script")} }

func zapLevel(level string) zapcore.Level {
	switch level {
	case "debug":
		return zapcore.DebugLevel
	case "warn":
		return zapcore.WarnLevel
	case "error":
		return zapcore.ErrorLevel
	}
	return zapcore.InfoLevel
}

// Enabled implements bindings.LevelEnabler.
func (s logSink) Enabled(level string) bool { return s.log.Core().Enabled(zapLevel(level)) }

// Log implements bindings.LogSink. The level is checked before any field
// is built.
func (s logSink) Log(level string, info *bindings.CallInfo, msg string, fields []any) {
	ce := s.log.Check(zapLevel(level), msg)
	if ce == nil {
		return
	}
	zf := make([]zap.Field, 0, 4+len(fields)/2)
	zf = append(zf,
		zap.String("script", info.Script), zap.String("version", info.Version),
		zap.String("phase", info.Phase), zap.Uint32("request_id", info.RequestID))
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		zf = append(zf, logField(k, fields[i+1]))
	}
	ce.Write(zf...)
}

// logField is the typed zap field of one record field.
func logField(key string, v any) zap.Field {
	switch x := v.(type) {
	case nil:
		return zap.Reflect(key, nil)
	case bool:
		return zap.Bool(key, x)
	case int64:
		return zap.Int64(key, x)
	case float64:
		return zap.Float64(key, x)
	case string:
		return zap.String(key, x)
	}
	return zap.Any(key, v)
}
