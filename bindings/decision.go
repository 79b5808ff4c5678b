package bindings

// Decision is what a chain of scripts decided for one call, as plain data
// for the runner to encode. Reset keeps slice capacity for reuse.
type Decision struct {
	// Stop is set when a handler returned respond(...). Status, Headers and
	// Body are then the response the client gets (in the request phase
	// Headers starts with those set by req.set_response_header).
	Stop    bool
	Status  int
	Headers []KV
	Body    []byte

	// Request phase, when not stopped: the changes to send as a Rewrite.
	Path        string
	PathSet     bool
	ReqHeaders  []KV // one entry per changed name; no value = delete
	Args        []KV // values of changed names; a value-less entry deletes
	RespHeaders []KV // headers APISIX adds to the eventual response
	// Body above is the replacement request body when BodySet.
	BodySet bool

	// Response phase, when not stopped: Status (0 = unchanged), Headers
	// (the complete list the client gets) and Body (when BodySet).
}

// Reset clears d for reuse.
func (d *Decision) Reset() {
	*d = Decision{
		Headers:     d.Headers[:0],
		ReqHeaders:  d.ReqHeaders[:0],
		Args:        d.Args[:0],
		RespHeaders: d.RespHeaders[:0],
	}
}

// Changed reports whether a request-phase decision changes anything.
func (d *Decision) Changed() bool {
	return d.PathSet || d.BodySet || len(d.ReqHeaders) > 0 || len(d.Args) > 0 || len(d.RespHeaders) > 0
}
