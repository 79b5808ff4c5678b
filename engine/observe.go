package engine

// Observer is told how every handler call ended: outcome is "continue"
// (returned None), "stop", "error" or "timeout". The metrics listener
// implements it; with none set the engine pays one nil check per handler.
// Implementations must be safe for concurrent use.
type Observer interface {
	ObserveHandler(script, phase, outcome string)
}

func (e *Engine) observe(c *Conf, phase string, o Outcome) {
	if e.cfg.Observer != nil && c != nil {
		e.cfg.Observer.ObserveHandler(c.Name, phase, o.String())
	}
}
