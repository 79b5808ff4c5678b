package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Target is one runner to measure.
type Target struct {
	Label  string
	Socket string
	// Confs, when set, replaces the base conf list for this target, e.g.
	// to measure two scripts on one runner side by side.
	Confs []Conf
}

// ParseTarget parses "PATH" or "LABEL=PATH".
func ParseTarget(s string) Target {
	if label, path, ok := strings.Cut(s, "="); ok && label != "" {
		return Target{Label: label, Socket: path}
	}
	return Target{Label: s, Socket: s}
}

// ParseConns parses a comma-separated list of connection counts.
func ParseConns(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("conns %q: want a comma-separated list of counts from 1 to 4096", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Sweep measures every target at every connection count, rounds times.
// Runs are ordered round by round, then by connection count, then by
// target, so the runs compared with each other are adjacent in time.
// each, when set, sees every result as soon as it is known.
func Sweep(ctx context.Context, base Options, targets []Target, conns []int, rounds int, each func(Result)) ([]Result, error) {
	var out []Result
	for round := 1; round <= max(rounds, 1); round++ {
		for _, n := range conns {
			for _, t := range targets {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				o := base
				o.Label, o.Socket, o.Conns = t.Label, t.Socket, n
				if t.Confs != nil {
					o.Confs = t.Confs
				}
				res, err := Run(ctx, o)
				if err != nil {
					return out, err
				}
				if rounds > 1 {
					res.Round = round
				}
				out = append(out, res)
				if each != nil {
					each(res)
				}
			}
		}
	}
	return out, nil
}

// Report is the machine-readable output of `scriptrunner bench --socket
// --json`, the input of tools/benchchart.
type Report struct {
	Started   time.Time `json:"started"`
	Machine   Machine   `json:"machine"`
	Duration  string    `json:"duration"`
	Warmup    string    `json:"warmup"`
	Confs     []Conf    `json:"confs"`
	Results   []Result  `json:"results"`
	LoadAfter string    `json:"loadavg_after,omitempty"`
	// Comparison sets every target against the first (Compare).
	Comparison []Comparison `json:"comparison,omitempty"`
}

// Machine describes where a measurement ran.
type Machine struct {
	CPU     string `json:"cpu"`
	NumCPU  int    `json:"num_cpu"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	LoadAvg string `json:"loadavg,omitempty"` // 1, 5 and 15 min, at the start
}

// ThisMachine describes the current machine. CPU model and load average
// are read from /proc on Linux and left empty elsewhere.
func ThisMachine() Machine {
	return Machine{
		CPU:     cpuModel(),
		NumCPU:  runtime.NumCPU(),
		Go:      runtime.Version(),
		OS:      runtime.GOOS + "/" + runtime.GOARCH,
		LoadAvg: LoadAvg(),
	}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// LoadAvg returns the 1, 5 and 15 minute load averages, or "".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// TableHeader is the header line of FormatRow's table.
const TableHeader = "target          conns      calls/s       mean        p50        p90        p99        max   errors  cpu µs/call (runner+gen)  reply"

// FormatRow renders r as one line of a text table.
func FormatRow(r Result) string {
	us := func(v float64) string {
		if v >= 10000 {
			return fmt.Sprintf("%.1fms", v/1000)
		}
		return fmt.Sprintf("%.1fµs", v)
	}
	return fmt.Sprintf("%-15s %5d %12.0f %10s %10s %10s %10s %10s %8d  %11.1f + %-11.1f  %s",
		r.Label, r.Conns, r.CallsPerSec, us(r.MeanUS), us(r.P50US), us(r.P90US), us(r.P99US), us(r.MaxUS), r.Errors,
		r.ServerCPUUS, r.ClientCPUUS, r.Reply)
}
