package bindings

// Snapshots let the engine drop the changes of a handler that failed
// under the on_error: continue policy, and OutputSize lets it enforce
// max_response_bytes after every handler.

// viewSnapshot is the change state of a View. The values arena only
// grows during a call, so the snapshot keeps its length, not its content.
type viewSnapshot struct {
	changes []change
	vals    int
	edits   int
}

func (v *View) snapshot(s *viewSnapshot) {
	s.changes = append(s.changes[:0], v.changes...)
	s.vals, s.edits = len(v.vals), v.edits
}

func (v *View) restore(s *viewSnapshot) {
	clear(v.changes)
	v.changes = append(v.changes[:0], s.changes...)
	clear(v.vals[s.vals:])
	v.vals = v.vals[:s.vals]
	v.edits = s.edits
}

// changesSize is the size of AppendChanges: names and values.
func (v *View) changesSize() int {
	n := 0
	for i := range v.changes {
		c := &v.changes[i]
		switch {
		case c.n == 0:
			n += len(c.name)
		case v.kind == reqHeaders:
			n += len(c.name) + len(v.vals[c.off+c.n-1])
		default:
			for _, val := range v.values(c) {
				n += len(c.name) + len(val)
			}
		}
	}
	return n
}

// allSize is the size of AppendAll: names and values of the complete
// list, without building it.
func (v *View) allSize() int {
	n := 0
	for i, m := 0, v.srcLen(); i < m; i++ {
		name, value, _ := v.src.At(i)
		changed := false
		for j := range v.changes {
			if v.match(name, v.changes[j].name) {
				changed = true
				break
			}
		}
		if !changed {
			n += len(name) + len(value)
		}
	}
	for i := range v.changes {
		c := &v.changes[i]
		for _, val := range v.values(c) {
			n += len(c.name) + len(val)
		}
	}
	return n
}

func kvSize(list []KV) int {
	n := 0
	for i := range list {
		n += len(list[i].Name) + len(list[i].Value)
	}
	return n
}

// RequestSnapshot holds the changes of a RequestValue at one point of a
// chain. Reuse one per pooled call: snapshots keep their capacity.
type RequestSnapshot struct {
	path               string
	pathSet            bool
	body               []byte
	bodyKnown, bodySet bool
	respHeaders        int
	headers, args      viewSnapshot
}

// Snapshot records r's changes in s.
func (r *RequestValue) Snapshot(s *RequestSnapshot) {
	s.path, s.pathSet = r.path, r.pathSet
	s.body, s.bodyKnown, s.bodySet = r.body, r.bodyKnown, r.bodySet
	s.respHeaders = len(r.respHeaders)
	r.headers.snapshot(&s.headers)
	r.args.snapshot(&s.args)
}

// Restore drops every change made since Snapshot(s). A body fetched from
// the host meanwhile stays cached, unless the body was also replaced.
func (r *RequestValue) Restore(s *RequestSnapshot) {
	r.path, r.pathSet = s.path, s.pathSet
	if r.bodySet {
		r.body, r.bodyKnown, r.bodySet = s.body, s.bodyKnown, s.bodySet
	}
	clear(r.respHeaders[s.respHeaders:])
	r.respHeaders = r.respHeaders[:s.respHeaders]
	r.headers.restore(&s.headers)
	r.args.restore(&s.args)
	s.body = nil
}

// OutputSize returns the bytes of names, values, path and body that the
// call would send back if the chain ended now: with stop, the Stop
// response (headers set with set_response_header included); without,
// the Rewrite of the changes so far.
func (r *RequestValue) OutputSize(stop *Stop) int {
	n := kvSize(r.respHeaders)
	if stop != nil {
		return n + kvSize(stop.Headers) + len(stop.Body)
	}
	if r.pathSet {
		n += len(r.path)
	}
	if r.bodySet {
		n += len(r.body)
	}
	return n + r.headers.changesSize() + r.args.changesSize()
}

// ResponseSnapshot holds the changes of a ResponseValue.
type ResponseSnapshot struct {
	status             int
	statusSet          bool
	body               []byte
	bodyKnown, bodySet bool
	headers            viewSnapshot
}

// Snapshot records r's changes in s.
func (r *ResponseValue) Snapshot(s *ResponseSnapshot) {
	s.status, s.statusSet = r.status, r.statusSet
	s.body, s.bodyKnown, s.bodySet = r.body, r.bodyKnown, r.bodySet
	r.headers.snapshot(&s.headers)
}

// Restore drops every change made since Snapshot(s).
func (r *ResponseValue) Restore(s *ResponseSnapshot) {
	r.status, r.statusSet = s.status, s.statusSet
	if r.bodySet {
		r.body, r.bodyKnown, r.bodySet = s.body, s.bodyKnown, s.bodySet
	}
	r.headers.restore(&s.headers)
	s.body = nil
}

// OutputSize returns the bytes of header names, values and body the call
// would answer with if the chain ended now: the Stop response, or the
// complete header list and the replaced body.
func (r *ResponseValue) OutputSize(stop *Stop) int {
	if stop != nil {
		return kvSize(stop.Headers) + len(stop.Body)
	}
	n := r.headers.allSize()
	if r.bodySet {
		n += len(r.body)
	}
	return n
}

// Release drops the references s holds, keeping its capacity.
func (s *RequestSnapshot) Release() {
	s.path, s.body = "", nil
	clear(s.headers.changes)
	clear(s.args.changes)
}

// Release drops the references s holds, keeping its capacity.
func (s *ResponseSnapshot) Release() {
	s.body = nil
	clear(s.headers.changes)
}
