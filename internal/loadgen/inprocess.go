package loadgen

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/scriptrunner/scriptrunner/engine"
	"github.com/scriptrunner/scriptrunner/internal/runner"
	"github.com/scriptrunner/scriptrunner/protocol"
	"github.com/scriptrunner/scriptrunner/protocol/apisix"
)

// InProcessOptions configures InProcess.
type InProcessOptions struct {
	// Scripts is the scripts directory. Default "scripts".
	Scripts string
	// Confs is the conf list (script chain) to run.
	Confs []Conf
	// Deny sends a wrong key (see Request).
	Deny bool
	// N runs exactly N calls; when 0, calls run for Duration (default 1 s).
	N        int
	Duration time.Duration
}

// InProcessResult is the cost of one call.
type InProcessResult struct {
	Ops     int     `json:"ops"`
	NsPerOp float64 `json:"ns_per_op"`
	// CPUNsPerOp is the process CPU time per call (Linux; 0 elsewhere):
	// close to NsPerOp on an idle machine, and much less inflated than
	// it when other processes compete for the cores.
	CPUNsPerOp  float64 `json:"cpu_ns_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	StepsPerOp  float64 `json:"steps_per_op"`
	Outcome     string  `json:"outcome"`
	Reply       string  `json:"reply"`
}

// inProc is one prepared in-process call path.
type inProc struct {
	r       *runner.Runner
	payload []byte
	call    protocol.Call
	in      protocol.HTTPReqCallRequest
	reply   protocol.ReqCallReply
	steps   uint64
}

// once runs one call: decode the HTTPReqCall payload, run the chain,
// encode the reply, as the socket server does minus the socket.
func (p *inProc) once() (engine.Result, []byte, error) {
	if err := p.in.Decode(p.payload); err != nil {
		return engine.Result{}, nil, err
	}
	p.reply.Reset()
	res, err := p.r.RunReqCall(&p.call, &p.in, &p.reply)
	if err != nil {
		return res, nil, err
	}
	p.steps += res.Steps
	enc := protocol.GetEncoder()
	frame, err := enc.ReqCall(p.in.ID, &p.reply)
	protocol.PutEncoder(enc)
	return res, frame, err
}

// InProcess measures the whole in-process path of one HTTPReqCall with the
// realistic Request: decoding, the engine running the chain, encoding the
// reply. Allocations come from runtime.MemStats around the measured loop.
// There is no connection, so a script that asks for ExtraInfo fails.
func InProcess(o InProcessOptions) (InProcessResult, error) {
	if o.Scripts == "" {
		o.Scripts = "scripts"
	}
	if o.N <= 0 && o.Duration <= 0 {
		o.Duration = time.Second
	}
	p, first, err := newInProc(o)
	if err != nil {
		return InProcessResult{}, err
	}
	defer p.r.Close()
	// Warm the pools and the CPU caches, then start from a clean heap.
	for range 1000 {
		p.once()
	}
	runtime.GC()
	p.steps = 0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := selfCPU()
	start := time.Now()
	n := p.loop(o.N, o.Duration)
	elapsed := time.Since(start)
	cpu = selfCPU() - cpu
	runtime.ReadMemStats(&after)
	first.Ops = n
	first.NsPerOp = float64(elapsed.Nanoseconds()) / float64(n)
	first.CPUNsPerOp = float64(cpu.Nanoseconds()) / float64(n)
	first.AllocsPerOp = float64(after.Mallocs-before.Mallocs) / float64(n)
	first.BytesPerOp = float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
	first.StepsPerOp = float64(p.steps) / float64(n)
	return first, nil
}

// loop runs n calls, or batches of calls until d has passed when n is 0,
// and returns how many it ran.
func (p *inProc) loop(n int, d time.Duration) int {
	if n > 0 {
		for range n {
			p.once()
		}
		return n
	}
	const batch = 1024
	deadline := time.Now().Add(d)
	for n = 0; ; n += batch {
		if !time.Now().Before(deadline) {
			return n
		}
		for range batch {
			p.once()
		}
	}
}

// newInProc prepares the chain and runs one checked call, whose outcome
// and reply it returns.
func newInProc(o InProcessOptions) (*inProc, InProcessResult, error) {
	eng := engine.New(engine.Config{Dir: o.Scripts}, nil)
	r := runner.New(eng, runner.Config{}, nil)
	conf := make([]protocol.Entry, len(o.Confs))
	for i, c := range o.Confs {
		conf[i] = protocol.Entry{Name: []byte(c.Name), Value: []byte(c.Value), HasValue: true}
	}
	token, err := r.PrepareConf(&protocol.PrepareConfRequest{Key: []byte("route#1#ext-plugin-pre-req#1"), Conf: conf})
	if err != nil {
		r.Close()
		return nil, InProcessResult{}, fmt.Errorf("loadgen: prepare conf: %w", err)
	}
	req := Request(o.Confs, o.Deny)
	req.ConfToken = token
	payload, err := apisix.EncodeReqCall(req)
	if err != nil {
		r.Close()
		return nil, InProcessResult{}, err
	}
	p := &inProc{r: r, payload: payload}
	res, frame, err := p.once()
	if err == nil && res.Err != nil {
		err = res.Err
	}
	if err == nil && len(frame) < protocol.HeaderSize {
		err = errors.New("empty reply")
	}
	if err != nil {
		r.Close()
		return nil, InProcessResult{}, fmt.Errorf("loadgen: first call: %w", err)
	}
	reply, err := apisix.DecodeReply(protocol.Type(frame[0]), frame[protocol.HeaderSize:])
	if err != nil {
		r.Close()
		return nil, InProcessResult{}, err
	}
	return p, InProcessResult{Outcome: res.Outcome.String(), Reply: summarize(reply)}, nil
}
