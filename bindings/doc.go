// Package bindings is the Starlark face of scriptrunner: the req and resp
// values scripts receive, their header and argument views, respond(), and
// the predeclared modules.
//
// bindings knows nothing about the wire protocol. It reads a request through
// the small interfaces declared here (Request, Response, Entries), which the
// runner implements over the decoded protocol messages, and it records what
// a script decided in a plain Decision struct.
//
// Values in this package belong to one call at a time: they are not safe for
// concurrent use, and a pooled Request or Response must be Reset before it
// serves another call.
package bindings
