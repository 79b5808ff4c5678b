// Package authoring holds the offline tools of script authors behind
// `scriptrunner check`, `test`, `call` and `fmt`.
//
// A Sandbox runs a script or a chain through the engine against a request
// or response described as data (JSON, or Starlark values in a test), with
// a mockable clock, and records what the engine asked the host for
// (ExtraInfo lookups). Its Result is rendered as JSON in the shape of the
// end-to-end cases ({"action":"stop","stop":{...}}, {"action":"rewrite",
// "rewrite":{...}}, {"resp":{...}}), with this package's own small types:
// authoring never imports the protocol packages.
//
// Test files (<name>_test.star) define test_* functions that receive a
// fixture `t` (fixture.go); RunTests runs them and reports one line per
// test. Check compiles scripts and test files and validates sample confs,
// reporting file:line:col diagnostics. Format formats scripts with the
// buildifier formatter.
//
// Nothing in this package is safe for concurrent use unless its doc
// comment says so.
package authoring
