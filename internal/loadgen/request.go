// Package loadgen measures runners the way APISIX uses them: in process
// (decode → engine → encode of one HTTPReqCall, see InProcess) and over the
// runner's Unix socket, acting as APISIX with many connections sending
// back-to-back calls (see Run). Package floor is the minimal runner it is
// compared with.
package loadgen

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/scriptrunner/scriptrunner/protocol/apisix"
)

// Conf is one entry of the conf list sent in PrepareConf: a plugin (script)
// name and its JSON value.
type Conf struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ParseConf parses "NAME=JSON".
func ParseConf(s string) (Conf, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return Conf{}, fmt.Errorf("conf %q: want NAME=JSON", s)
	}
	return Conf{Name: name, Value: value}, nil
}

func kvs(confs []Conf) []apisix.KV {
	out := make([]apisix.KV, len(confs))
	for i, c := range confs {
		out[i] = apisix.KV{Name: c.Name, Value: c.Value}
	}
	return out
}

// Request returns the realistic request used by both modes: a GET with
// 3 query arguments and 10 headers. When a conf's JSON has "header" and
// "key" strings (bench_filter's conf), that header carries the key, so the
// filter takes its allow path; deny sends a wrong key instead. Without
// such a conf the tenth header is x-api-key: secret.
func Request(confs []Conf, deny bool) apisix.ReqCall {
	name, key := "x-api-key", "secret"
	for _, c := range confs {
		var v struct{ Header, Key string }
		if json.Unmarshal([]byte(c.Value), &v) == nil && v.Header != "" {
			name, key = strings.ToLower(v.Header), v.Key
			break
		}
	}
	if deny {
		key += "-wrong"
	}
	return apisix.ReqCall{
		ID: 4194311, Method: "GET", Path: "/api/v1/orders/1234",
		SrcIP: netip.MustParseAddr("10.1.2.3"),
		Args:  apisix.KVs("page", "2", "size", "50", "sort", "created"),
		Headers: apisix.KVs(
			"host", "api.example.com",
			"user-agent", "Mozilla/5.0 (X11; Linux x86_64)",
			"accept", "application/json",
			"accept-encoding", "gzip, deflate, br",
			"accept-language", "en-US,en;q=0.9",
			"x-request-id", "6f1c2b1e-8a4d-4c53-9a57-0f6e2d9c1b3a",
			"x-forwarded-for", "203.0.113.7",
			name, key,
			"cookie", "session=abc123; theme=dark",
			"connection", "keep-alive",
		),
	}
}

// DefaultVars returns the answers to ExtraInfo var questions used unless
// the caller gives its own; other variables are answered as absent.
func DefaultVars() map[string]string {
	return map[string]string{
		"remote_addr": "10.1.2.3",
		"server_addr": "10.0.0.1",
		"route_id":    "1",
		"request_uri": "/api/v1/orders/1234?page=2&size=50&sort=created",
	}
}

// summarize renders a decoded reply in one short line.
func summarize(r apisix.Reply) string {
	switch {
	case r.Err != nil:
		return "error " + r.Err.String()
	case r.Stop != nil:
		return fmt.Sprintf("stop %d %q", r.Stop.Status, r.Stop.Body)
	case r.Rewrite != nil:
		var b strings.Builder
		b.WriteString("rewrite")
		for _, h := range r.Rewrite.Headers {
			fmt.Fprintf(&b, " %s: %s", h.Name, h.Value)
		}
		return b.String()
	}
	return r.Action
}
