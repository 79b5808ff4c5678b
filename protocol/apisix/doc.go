// Package apisix is the APISIX side of the ext-plugin protocol: it
// encodes the requests APISIX sends (PrepareConf, HTTPReqCall,
// HTTPRespCall, ExtraInfo answers) and decodes the runner's replies into
// plain values with a stable JSON form. It uses the flatc-generated code,
// independently of package protocol's own codec, so tests that use it
// check one implementation against the other.
//
// protocoltest builds a fake APISIX for tests on top of it; the load
// generator of `scriptrunner bench` uses it directly.
package apisix
