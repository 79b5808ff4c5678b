// Command benchchart renders the calls/s and p99 latency of runners against
// the number of connections, from `scriptrunner bench --socket --json`
// reports, as an SVG (docs/bench.svg; `make bench-chart`).
//
// Usage:
//
//	benchchart [-o docs/bench.svg] [-title T] report.json...
//
// An output name ending in .png gives a PNG instead.
//
// Every runner label found in the reports becomes one series; a label
// measured more than once at a connection count (rounds, several reports)
// is drawn at its median.
//
// It is a module of its own so that scriptrunner does not depend on gonum.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// result is the part of a loadgen.Result the chart uses.
type result struct {
	Label       string  `json:"label"`
	Conns       int     `json:"conns"`
	CallsPerSec float64 `json:"calls_per_sec"`
	P99US       float64 `json:"p99_us"`
}

type report struct {
	Results []result `json:"results"`
}

func main() {
	out := flag.String("o", "docs/bench.svg", "output SVG `file`")
	title := flag.String("title", "", "chart title prefix, e.g. the machine")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: benchchart [-o out.svg] [-title T] report.json...")
		os.Exit(2)
	}
	if err := run(*out, *title, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "benchchart:", err)
		os.Exit(1)
	}
}

func run(out, title string, files []string) error {
	var all []result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r report
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, r.Results...)
	}
	if len(all) == 0 {
		return fmt.Errorf("no results in %v", files)
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := render(w, strings.HasSuffix(out, ".png"), title, all); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// series is one runner's medians by connection count.
type series struct {
	label string
	conns []int
	calls []float64
	p99   []float64
}

// collect groups results by label (in order of first appearance) and
// connection count, taking medians.
func collect(all []result) []series {
	type key struct {
		label string
		conns int
	}
	calls, p99 := map[key][]float64{}, map[key][]float64{}
	var labels []string
	connsOf := map[string][]int{}
	for _, r := range all {
		k := key{r.Label, r.Conns}
		if !slices.Contains(labels, r.Label) {
			labels = append(labels, r.Label)
		}
		if _, seen := calls[k]; !seen {
			connsOf[r.Label] = append(connsOf[r.Label], r.Conns)
		}
		calls[k] = append(calls[k], r.CallsPerSec)
		p99[k] = append(p99[k], r.P99US)
	}
	var out []series
	for _, l := range labels {
		s := series{label: l, conns: connsOf[l]}
		sort.Ints(s.conns)
		for _, n := range s.conns {
			s.calls = append(s.calls, median(calls[key{l, n}]))
			s.p99 = append(s.p99, median(p99[key{l, n}]))
		}
		out = append(out, s)
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// palette gives the usual runners fixed colours.
var palette = map[string]color.RGBA{
	"floor":        {R: 0x88, G: 0x88, B: 0x88, A: 0xff},
	"scriptrunner": {R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"go-runner":    {R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

var others = []color.RGBA{{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, {R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, {R: 0x94, G: 0x67, B: 0xbd, A: 0xff}}

func colorOf(label string, i int) color.RGBA {
	if c, ok := palette[label]; ok {
		return c
	}
	return others[i%len(others)]
}

// render draws the two panels side by side as SVG, or PNG, on w.
func render(w io.Writer, png bool, title string, all []result) error {
	ss := collect(all)
	var ticks []plot.Tick
	for _, s := range ss {
		for _, n := range s.conns {
			if !slices.ContainsFunc(ticks, func(t plot.Tick) bool { return t.Value == float64(n) }) {
				ticks = append(ticks, plot.Tick{Value: float64(n), Label: strconv.Itoa(n)})
			}
		}
	}
	left := newPanel(title, "calls/s", ticks)
	right := newPanel(title, "p99 latency (µs)", ticks)
	for i, s := range ss {
		c := colorOf(s.label, i)
		if err := addLine(left, s.label, c, s.conns, s.calls); err != nil {
			return err
		}
		if err := addLine(right, s.label, c, s.conns, s.p99); err != nil {
			return err
		}
	}
	left.Title.Text = join(title, "throughput")
	right.Title.Text = join(title, "p99 latency")
	left.Y.Min = 0
	right.Y.Scale = plot.LogScale{}
	right.Y.Tick.Marker = plot.LogTicks{Prec: -1}

	const width, height = 10 * vg.Inch, 4 * vg.Inch
	var img interface {
		vg.CanvasSizer
		io.WriterTo
	}
	if png {
		img = vgimg.PngCanvas{Canvas: vgimg.New(width, height)}
	} else {
		img = vgsvg.New(width, height)
	}
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	plots := [][]*plot.Plot{{left, right}}
	canvases := plot.Align(plots, tiles, draw.New(img))
	left.Draw(canvases[0][0])
	right.Draw(canvases[0][1])
	_, err := img.WriteTo(w)
	return err
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ": " + b
}

func newPanel(title, y string, ticks []plot.Tick) *plot.Plot {
	p := plot.New()
	p.X.Label.Text = "connections"
	p.Y.Label.Text = y
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	return p
}

func addLine(p *plot.Plot, label string, c color.RGBA, conns []int, ys []float64) error {
	pts := make(plotter.XYs, len(conns))
	for i := range conns {
		pts[i].X, pts[i].Y = float64(conns[i]), ys[i]
	}
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color, s.Color = c, c
	l.Width = vg.Points(1.5)
	s.Shape = draw.CircleGlyph{}
	p.Add(l, s)
	p.Legend.Add(label, l, s)
	return nil
}
