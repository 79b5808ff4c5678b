package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/bytebufferpool"

	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/apisix"
)

// Options configures one socket measurement (Run).
type Options struct {
	// Label names the runner in results, e.g. "scriptrunner" or "floor".
	Label string
	// Socket is the runner's Unix socket path.
	Socket string
	// Conns is the number of connections, each driven by its own
	// goroutine with one call in flight, as an APISIX worker's
	// connection is. Default 1.
	Conns int
	// Duration is the measured time. Default 5 s.
	Duration time.Duration
	// Warmup runs calls that are not measured before Duration starts.
	Warmup time.Duration
	// Confs is the conf list each connection prepares once.
	Confs []Conf
	// Request is the HTTPReqCall sent back to back; its ConfToken is
	// replaced by the connection's token.
	Request apisix.ReqCall
	// Vars answers ExtraInfo var questions; nil means DefaultVars().
	// Unknown variables and bodies are answered as absent.
	Vars map[string]string
	// Progress, when set, receives a line every ProgressInterval
	// (default 1 s).
	Progress         io.Writer
	ProgressInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.Conns <= 0 {
		o.Conns = 1
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Second
	}
	if o.Vars == nil {
		o.Vars = DefaultVars()
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	if o.Label == "" {
		o.Label = o.Socket
	}
	return o
}

// Result is the outcome of one measurement. Latencies are in microseconds.
type Result struct {
	Label       string  `json:"label"`
	Socket      string  `json:"socket"`
	Conns       int     `json:"conns"`
	Round       int     `json:"round,omitempty"`
	Seconds     float64 `json:"seconds"`
	Calls       uint64  `json:"calls"`
	Errors      uint64  `json:"errors"`
	ExtraInfo   uint64  `json:"extra_info"`
	CallsPerSec float64 `json:"calls_per_sec"`
	MeanUS      float64 `json:"mean_us"`
	P50US       float64 `json:"p50_us"`
	P90US       float64 `json:"p90_us"`
	P99US       float64 `json:"p99_us"`
	MaxUS       float64 `json:"max_us"`
	// ServerCPUUS is the CPU time (user + system) the runner process
	// spent per call during the measurement, from /proc on Linux (0 when
	// unknown); ClientCPUUS is the load generator's own. Unlike calls/s,
	// they hardly depend on what else runs on the machine.
	ServerCPUUS float64 `json:"server_cpu_us"`
	ClientCPUUS float64 `json:"client_cpu_us"`
	// Reply summarises the first reply, to show which path was measured.
	Reply      string `json:"reply"`
	FirstError string `json:"first_error,omitempty"`
}

// Run measures the runner at o.Socket: every connection prepares o.Confs
// once, then sends o.Request back to back, answering ExtraInfo questions,
// for o.Warmup and then o.Duration. A call that fails (RPC_ERROR,
// unexpected frame, broken connection) counts as an error and the
// connection is reopened, as APISIX does. Run fails only when a
// connection cannot be set up at the start. Cancelling ctx ends the
// measurement early.
func Run(ctx context.Context, o Options) (Result, error) {
	o = o.withDefaults()
	ws := make([]*worker, o.Conns)
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.close()
			}
		}
	}()
	for i := range ws {
		ws[i] = &worker{o: &o}
		if err := ws[i].connect(); err != nil {
			return Result{}, fmt.Errorf("loadgen: %s connection %d: %w", o.Socket, i+1, err)
		}
	}
	var (
		stop  atomic.Bool
		epoch atomic.Int32 // 0 warm-up, 1 measured
		wg    sync.WaitGroup
	)
	cpu := cpuProbe{pid: peerPID(ws[0].nc)}
	if o.Warmup <= 0 {
		epoch.Store(1)
		cpu.start()
	}
	start := time.Now()
	for _, w := range ws {
		wg.Add(1)
		go func() { defer wg.Done(); w.loop(&stop, &epoch) }()
	}
	measured, end := o.wait(ctx, ws, start, &epoch, cpu.start)
	cpu.stop()
	stop.Store(true)
	wg.Wait()
	res := o.result(ws, end.Sub(measured))
	res.ServerCPUUS, res.ClientCPUUS = cpu.perCall(res.Calls)
	return res, nil
}

// cpuProbe measures the CPU time of the runner process and of this one
// over the measured period.
type cpuProbe struct {
	pid            int
	server, client time.Duration
	ok             bool // the runner's CPU time could be read twice
}

func (p *cpuProbe) start() {
	p.server, p.ok = processCPU(p.pid)
	p.client = selfCPU()
}

func (p *cpuProbe) stop() {
	s, ok := processCPU(p.pid)
	p.server, p.ok = s-p.server, ok && p.ok
	p.client = selfCPU() - p.client
}

func (p *cpuProbe) perCall(calls uint64) (server, client float64) {
	if calls == 0 {
		return 0, 0
	}
	if p.ok && p.pid != 0 {
		server = float64(p.server) / 1e3 / float64(calls)
	}
	return server, float64(p.client) / 1e3 / float64(calls)
}

// wait runs the warm-up and the measured period, printing progress, and
// returns when the measurement started and ended.
func (o *Options) wait(ctx context.Context, ws []*worker, start time.Time, epoch *atomic.Int32, begin func()) (measured, end time.Time) {
	tick := time.NewTicker(o.ProgressInterval)
	defer tick.Stop()
	measured = start
	phase := time.NewTimer(o.Warmup)
	if o.Warmup <= 0 {
		phase.Reset(o.Duration)
	}
	var last uint64
	lastAt := start
	for {
		select {
		case <-ctx.Done():
			return measured, time.Now()
		case now := <-phase.C:
			if epoch.Load() == 1 {
				return measured, now
			}
			epoch.Store(1)
			begin()
			measured = now
			phase.Reset(o.Duration)
		case now := <-tick.C:
			if o.Progress == nil {
				continue
			}
			var calls, errs uint64
			for _, w := range ws {
				calls += w.progress.Load()
				errs += w.errTotal.Load()
			}
			name := "warmup"
			if epoch.Load() == 1 {
				name = "measure"
			}
			rate := float64(calls-last) / now.Sub(lastAt).Seconds()
			fmt.Fprintf(o.Progress, "%-14s conns=%-3d %-7s %6.1fs %10.0f calls/s  errors=%d\n",
				o.Label, o.Conns, name, now.Sub(start).Seconds(), rate, errs)
			last, lastAt = calls, now
		}
	}
}

func (o *Options) result(ws []*worker, d time.Duration) Result {
	var h Histogram
	res := Result{Label: o.Label, Socket: o.Socket, Conns: o.Conns, Seconds: d.Seconds()}
	for _, w := range ws {
		h.Merge(&w.hist)
		res.Calls += w.calls
		res.Errors += w.errors
		res.ExtraInfo += w.extra
		if res.Reply == "" {
			res.Reply = w.reply
		}
		if res.FirstError == "" && w.firstErr != nil {
			res.FirstError = w.firstErr.Error()
		}
	}
	if d > 0 {
		res.CallsPerSec = float64(res.Calls) / d.Seconds()
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	res.MeanUS, res.MaxUS = us(h.Mean()), us(h.Max())
	res.P50US, res.P90US, res.P99US = us(h.Quantile(0.50)), us(h.Quantile(0.90)), us(h.Quantile(0.99))
	return res
}

// worker drives one connection. Everything but progress and errTotal is
// owned by its goroutine.
type worker struct {
	progress atomic.Uint64 // calls in every phase, for progress lines
	errTotal atomic.Uint64

	o       *Options
	nc      net.Conn
	r       *bufio.Reader
	in      bytebufferpool.ByteBuffer // the last frame's payload, reused
	frame   []byte                    // the pre-encoded HTTPReqCall frame
	answers map[string][]byte         // ExtraInfo question payload → answer frame

	hist                 Histogram
	calls, errors, extra uint64
	firstErr             error
	reply                string
}

// dialTimeout bounds connecting and preparing a connection.
const dialTimeout = 5 * time.Second

// connect opens the connection, prepares the confs and encodes the call
// frame with the token.
func (w *worker) connect() error {
	nc, err := net.DialTimeout("unix", w.o.Socket, dialTimeout)
	if err != nil {
		return err
	}
	w.nc = nc
	if w.r == nil {
		w.r = bufio.NewReaderSize(nc, 64<<10)
		w.answers = map[string][]byte{}
	} else {
		w.r.Reset(nc)
	}
	nc.SetDeadline(time.Now().Add(dialTimeout))
	token, err := w.prepare()
	if err != nil {
		return err
	}
	req := w.o.Request
	req.ConfToken = token
	payload, err := apisix.EncodeReqCall(req)
	if err != nil {
		return err
	}
	if w.frame, err = frame(protocol.TypeHTTPReqCall, payload); err != nil {
		return err
	}
	// One deadline for the whole run instead of one per call: a runner
	// that stops answering fails the call within it.
	return nc.SetDeadline(time.Now().Add(w.o.Warmup + w.o.Duration + 30*time.Second))
}

func (w *worker) prepare() (uint32, error) {
	f, err := frame(protocol.TypePrepareConf, apisix.EncodePrepareConf(confKey(w.o.Confs), kvs(w.o.Confs)...))
	if err != nil {
		return 0, err
	}
	if _, err := w.nc.Write(f); err != nil {
		return 0, err
	}
	t, payload, err := w.read()
	if err != nil {
		return 0, fmt.Errorf("PrepareConf: %w", err)
	}
	r, err := apisix.DecodeReply(t, payload)
	if err != nil {
		return 0, err
	}
	if t != protocol.TypePrepareConf {
		return 0, fmt.Errorf("PrepareConf answered %s", summarize(r))
	}
	return r.Token, nil
}

// confKey returns the PrepareConf key of a conf list. APISIX's key names
// the route and its version, which changes with the conf; the Go runner
// answers a known key with the token it gave before, whatever the conf,
// so two conf lists must never share a key.
func confKey(confs []Conf) string {
	h := fnv.New64a()
	for _, c := range confs {
		fmt.Fprintf(h, "%d:%s%d:%s", len(c.Name), c.Name, len(c.Value), c.Value)
	}
	return fmt.Sprintf("route#1#ext-plugin-pre-req#%x", h.Sum64())
}

func frame(t protocol.Type, payload []byte) ([]byte, error) {
	f, err := protocol.AppendFrameHeader(make([]byte, 0, protocol.HeaderSize+len(payload)), t, len(payload))
	return append(f, payload...), err
}

func (w *worker) close() {
	if w.nc != nil {
		w.nc.Close()
	}
}

func (w *worker) loop(stop *atomic.Bool, epoch *atomic.Int32) {
	cur := int32(-1)
	for !stop.Load() {
		if e := epoch.Load(); e != cur {
			cur = e
			w.hist.Reset()
			w.calls, w.errors, w.extra, w.firstErr = 0, 0, 0, nil
		}
		t0 := time.Now()
		if err := w.call(); err != nil {
			if stop.Load() {
				return
			}
			w.fail(err)
			continue
		}
		w.hist.Record(time.Since(t0))
		w.calls++
		w.progress.Add(1)
	}
}

// fail counts a failed call and reopens the connection, as APISIX closes
// a connection after any error.
func (w *worker) fail(err error) {
	w.errors++
	w.errTotal.Add(1)
	if w.firstErr == nil {
		w.firstErr = err
	}
	w.nc.Close()
	if err := w.connect(); err != nil {
		// The runner is gone or refusing; do not spin.
		time.Sleep(10 * time.Millisecond)
	}
}

// errRPC is an RPC_ERROR answer to a call.
var errRPC = errors.New("runner answered RPC_ERROR")

// call runs one HTTPReqCall exchange (protocol.md §5). It does not
// allocate once every ExtraInfo question it sees has been answered once.
func (w *worker) call() error {
	if _, err := w.nc.Write(w.frame); err != nil {
		return err
	}
	for {
		t, payload, err := w.read()
		if err != nil {
			return err
		}
		switch t {
		case protocol.TypeHTTPReqCall:
			if w.reply == "" {
				r, err := apisix.DecodeReply(t, payload)
				if err != nil {
					return err
				}
				w.reply = summarize(r)
			}
			return nil
		case protocol.TypeExtraInfo:
			ans, ok := w.answers[string(payload)]
			if !ok {
				if ans, err = w.answer(payload); err != nil {
					return err
				}
			}
			w.extra++
			if _, err := w.nc.Write(ans); err != nil {
				return err
			}
		case protocol.TypeError:
			r, _ := apisix.DecodeReply(t, payload)
			return fmt.Errorf("%w: %s", errRPC, summarize(r))
		default:
			return fmt.Errorf("unexpected frame type %s", t)
		}
	}
}

// answer encodes the answer to a question seen for the first time and
// caches it by the question's bytes.
func (w *worker) answer(payload []byte) ([]byte, error) {
	r, err := apisix.DecodeReply(protocol.TypeExtraInfo, payload)
	if err != nil {
		return nil, err
	}
	var result []byte
	ok := false
	if r.Question.Kind == apisix.KindVar {
		var v string
		v, ok = w.o.Vars[r.Question.Name]
		result = []byte(v)
	}
	ans, err := frame(protocol.TypeExtraInfo, apisix.EncodeExtraInfo(result, ok))
	if err != nil {
		return nil, err
	}
	w.answers[string(payload)] = ans
	return ans, nil
}

func (w *worker) read() (protocol.Type, []byte, error) {
	t, err := protocol.ReadFrame(w.r, &w.in)
	return t, w.in.B, err
}
