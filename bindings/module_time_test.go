package bindings

import (
	"testing"
	"time"
)

func TestTimeNow(t *testing.T) {
	// modNow is 2024-05-06T07:08:09Z, Unix 1714979289.
	runModCases(t, modNow, nil, []modCase{
		{name: "mocked", expr: `time.now().unix`, want: `1714979289`},
		{name: "fixed for the call", expr: `time.now() == time.now()`, want: `True`},
		{name: "utc", expr: `time.now().format(time.RFC3339)`, want: `"2024-05-06T07:08:09Z"`},
		{name: "arithmetic", expr: `(time.now() + time.hour).format(time.RFC3339)`, want: `"2024-05-06T08:08:09Z"`},
		{name: "difference", expr: `(time.now() - time.parse_time("2024-05-06T07:00:00Z")).seconds`, want: `489.0`},
		{name: "no arguments", expr: `time.now(1)`, wantErr: "time.now: got 1 arguments, want 0"},
	})
	// A clock in another zone still reads as UTC.
	tokyo := modNow.In(time.FixedZone("JST", 9*3600))
	runModCases(t, tokyo, nil, []modCase{
		{name: "zone dropped", expr: `time.now().format(time.RFC3339)`, want: `"2024-05-06T07:08:09Z"`},
	})
}

// RFC 3339 §5.8 examples.
func TestTimeParseFormat(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "rfc3339 utc fraction", expr: `time.parse_time("1985-04-12T23:20:50.52Z").format(time.RFC3339_NANO)`, want: `"1985-04-12T23:20:50.52Z"`},
		{name: "rfc3339 utc unix", expr: `time.parse_time("1985-04-12T23:20:50.52Z").unix`, want: `482196050`},
		{name: "rfc3339 offset", expr: `time.parse_time("1996-12-19T16:39:57-08:00").unix`, want: `851042397`},
		{name: "offset kept", expr: `time.parse_time("1996-12-19T16:39:57-08:00").format(time.RFC3339)`, want: `"1996-12-19T16:39:57-08:00"`},
		{name: "other layout", expr: `time.parse_time("2011-03-22", format = "2006-01-02").unix`, want: `1300752000`},
		{name: "http date", expr: `time.from_timestamp(1300819380).format(time.HTTP)`, want: `"Tue, 22 Mar 2011 18:43:00 GMT"`},
		{name: "parse http date", expr: `time.parse_time("Tue, 22 Mar 2011 18:43:00 GMT", format = time.HTTP).unix`, want: `1300819380`},
		{name: "from timestamp utc", expr: `time.from_timestamp(0).format(time.RFC3339)`, want: `"1970-01-01T00:00:00Z"`},
		{name: "from timestamp nsec", expr: `time.from_timestamp(1, 500000000).unix_nano`, want: `1500000000`},
		{name: "attributes", expr: `[getattr(time.now(), a) for a in ["year", "month", "day", "hour", "minute", "second"]]`, want: `[2024, 5, 6, 7, 8, 9]`},
		{name: "time constructor", expr: `time.time(year = 2024, month = 5, day = 6).format(time.RFC3339)`, want: `"2024-05-06T00:00:00Z"`},
		{name: "time constructor positional", expr: `time.time(2024)`, wantErr: "time.time: got 1 positional arguments, want keywords only"},
		{name: "invalid", expr: `time.parse_time("yesterday")`, wantErr: `time.parse_time: parsing time "yesterday"`},
		{name: "utc is valid", expr: `time.is_valid_timezone("UTC")`, want: `True`},
		{name: "bad zone", expr: `time.is_valid_timezone("Nowhere/Else")`, want: `False`},
	})
}

func TestTimeDurations(t *testing.T) {
	runModCases(t, modNow, nil, []modCase{
		{name: "parse", expr: `time.parse_duration("1h30m").seconds`, want: `5400.0`},
		{name: "string", expr: `str(time.parse_duration("90s"))`, want: `"1m30s"`},
		{name: "constants", expr: `time.minute * 2 == time.parse_duration("120s")`, want: `True`},
		{name: "milliseconds", expr: `(time.second + time.millisecond * 250).milliseconds`, want: `1250`},
		{name: "invalid", expr: `time.parse_duration("soon")`, wantErr: `time.parse_duration: for parameter d: time: invalid duration "soon"`},
	})
}
