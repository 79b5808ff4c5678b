package bindings

import (
	"fmt"
	"net/http"
	"time"

	libtime "go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// The time module: go.starlark.net/lib/time's values (time.time and
// time.duration, with their attributes, methods and arithmetic), duration
// constants and functions, except that now() is the call's fixed clock
// (CallInfoOf(thread).Time()) and times made from a timestamp or the clock
// are in UTC, so a script behaves the same on every host. The functions
// are rewritten here so that their errors name them "time.<name>".

// newTimeModule returns the time module. It holds no state.
func newTimeModule() *starlarkstruct.Module {
	lib := libtime.Module.Members
	members := starlark.StringDict{
		"now":               starlark.NewBuiltin("time.now", timeNow),
		"from_timestamp":    starlark.NewBuiltin("time.from_timestamp", timeFromTimestamp),
		"parse_time":        starlark.NewBuiltin("time.parse_time", timeParse),
		"parse_duration":    starlark.NewBuiltin("time.parse_duration", timeParseDuration),
		"time":              starlark.NewBuiltin("time.time", timeTime),
		"is_valid_timezone": starlark.NewBuiltin("time.is_valid_timezone", timeIsValidTimezone),

		"RFC3339":      starlark.String(time.RFC3339),
		"RFC3339_NANO": starlark.String(time.RFC3339Nano),
		"HTTP":         starlark.String(http.TimeFormat),
	}
	for _, name := range []string{
		"nanosecond", "microsecond", "millisecond", "second", "minute", "hour",
	} {
		members[name] = lib[name]
	}
	return &starlarkstruct.Module{Name: "time", Members: members}
}

// time.now() -> time.time: the call's clock, fixed for the whole call.
func timeNow(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	return libtime.Time(CallInfoOf(thread).Time().UTC()), nil
}

// time.from_timestamp(sec, nsec=0) -> time.time in UTC.
func timeFromTimestamp(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var sec, nsec int64
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "sec", &sec, "nsec?", &nsec); err != nil {
		return nil, err
	}
	return libtime.Time(time.Unix(sec, nsec).UTC()), nil
}

// time.parse_time(x, format=RFC3339, location="UTC") -> time.time
func timeParse(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var (
		x        string
		format   = time.RFC3339
		location = "UTC"
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "x", &x, "format?", &format, "location?", &location); err != nil {
		return nil, err
	}
	loc := time.UTC
	if location != "UTC" {
		var err error
		if loc, err = time.LoadLocation(location); err != nil {
			return nil, fmt.Errorf("%s: %v", b.Name(), err)
		}
	}
	t, err := time.ParseInLocation(format, x, loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return libtime.Time(t), nil
}

// time.parse_duration(d) -> time.duration ("1h30m", "250ms").
func timeParseDuration(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d libtime.Duration
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "d", &d); err != nil {
		return nil, err
	}
	return d, nil
}

// time.is_valid_timezone(loc) -> bool
func timeIsValidTimezone(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var loc string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "loc", &loc); err != nil {
		return nil, err
	}
	_, err := time.LoadLocation(loc)
	return starlark.Bool(err == nil), nil
}

// time.time(year=0, month=0, day=0, hour=0, minute=0, second=0,
// nanosecond=0, location="UTC") -> time.time, keywords only; out-of-range
// values normalize as in Go's time.Date.
func timeTime(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%s: got %d positional arguments, want keywords only", b.Name(), len(args))
	}
	var (
		year, month, day, hour, minute, second, nsec int
		location                                     = "UTC"
	)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs,
		"year?", &year, "month?", &month, "day?", &day,
		"hour?", &hour, "minute?", &minute, "second?", &second,
		"nanosecond?", &nsec, "location?", &location); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(location)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", b.Name(), err)
	}
	return libtime.Time(time.Date(year, time.Month(month), day, hour, minute, second, nsec, loc)), nil
}
