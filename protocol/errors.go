package protocol

import (
	"errors"
	"fmt"
)

// Code is an A6.Err.Code carried by an RPC_ERROR frame.
type Code uint8

// Error codes (protocol.md §4.5).
const (
	CodeBadRequest         Code = 0
	CodeServiceUnavailable Code = 1
	CodeConfTokenNotFound  Code = 2
)

func (c Code) String() string {
	switch c {
	case CodeBadRequest:
		return "BAD_REQUEST"
	case CodeServiceUnavailable:
		return "SERVICE_UNAVAILABLE"
	case CodeConfTokenNotFound:
		return "CONF_TOKEN_NOT_FOUND"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// Error is a handler error that is answered with an RPC_ERROR frame of the
// given code. Handler errors of any other type are answered with
// SERVICE_UNAVAILABLE.
type Error struct {
	Code Code
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrConfTokenNotFound is answered with CONF_TOKEN_NOT_FOUND; APISIX then
// prepares the conf again and retries.
var ErrConfTokenNotFound = &Error{Code: CodeConfTokenNotFound}

// BadRequest wraps err so that it is answered with BAD_REQUEST.
func BadRequest(err error) error { return &Error{Code: CodeBadRequest, Err: err} }

// CodeOf returns the RPC_ERROR code that answers err.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, ErrMalformed) {
		return CodeBadRequest
	}
	return CodeServiceUnavailable
}

func wrap(what string, err error) error {
	return fmt.Errorf("protocol: decode %s: %w", what, err)
}

func wrapIndex(what string, i uint32, err error) error {
	return fmt.Errorf("protocol: decode %s[%d]: %w", what, i, err)
}
