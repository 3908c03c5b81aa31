// Package models holds Gatehouse's domain types, which double as the GORM models, their
// validation helpers and the one domain error type. It must not talk to a database or the network.
package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
)

// Error codes. Transports map each code to their own status once (GraphQL extensions.code or a
// payload UserError code, REST status and type, SCIM status and scimType).
const (
	EINVALID         = "INVALID"         // input fails validation
	ENOTFOUND        = "NOT_FOUND"       // a referenced object does not exist in the caller's workspace
	ETAKEN           = "TAKEN"           // a unique value is already in use
	EINVALIDSTATE    = "INVALID_STATE"   // the object's current state forbids the operation
	ECONFLICT        = "CONFLICT"        // a concurrent change won (stale version)
	EUNAUTHENTICATED = "UNAUTHENTICATED" // no or bad credentials
	EFORBIDDEN       = "FORBIDDEN"       // authenticated, but not allowed
	EUNAVAILABLE     = "UNAVAILABLE"     // the database is unreachable, too slow, busy or out of disk: retry later
	EINTERNAL        = "INTERNAL"        // anything else; never shown with its cause
)

// ErrUnavailable marks an error as transient: the database could not answer within the
// request's deadline (down, locked, or every connection busy), or could not write (the disk
// holding SQLite's files is full). Transports answer it with 503 and Retry-After; the request
// may be retried, and nothing was committed.
var ErrUnavailable = errors.New("service temporarily unavailable")

// unavailableMessage is the public message of an EUNAVAILABLE error.
const unavailableMessage = "the service is temporarily unavailable; retry later"

// Error is the domain error. Field is the input path the problem belongs to (the GraphQL
// UserError label); Value is the offending input, nil when it is secret or irrelevant.
type Error struct {
	Code    string
	Field   string
	Message string
	Value   *string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an Error without a field.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError builds an Error about one input field, echoing value.
func FieldError(code, field, value, message string) *Error {
	return &Error{Code: code, Field: field, Message: message, Value: &value}
}

// SecretFieldError builds an Error about a secret input field; the value is never echoed.
func SecretFieldError(code, field, message string) *Error {
	return &Error{Code: code, Field: field, Message: message}
}

// Errors is a list of user-fixable problems reported together (validation of several fields).
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Err returns nil for an empty list so callers can `return errs.Err()`.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// LogLevel is the level a failure is logged at: a warning when the database did not answer
// or could not write (an outage, a full disk: retried, and said by every surface then), else
// an error.
func LogLevel(err error) slog.Level {
	if ErrorCode(err) == EUNAVAILABLE {
		return slog.LevelWarn
	}
	return slog.LevelError
}

// ErrorCode returns the code of a domain error, or EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var es Errors
	if errors.As(err, &es) && len(es) > 0 {
		return es[0].Code
	}
	if err == nil {
		return ""
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return EUNAVAILABLE
	}
	return EINTERNAL
}

// UserErrors returns the user-fixable problems carried by err, or nil when err is not one
// (authentication, authorization and internal errors are not the user's to fix in a payload).
func UserErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case EUNAUTHENTICATED, EFORBIDDEN, EINTERNAL, EUNAVAILABLE:
			return nil
		}
		return Errors{e}
	}
	return nil
}

// FieldMessage is PublicMessage naming the input fields the problems are about ("endDate must
// be …"; several joined by "; "), for callers that show no per-field error list.
func FieldMessage(err error) string {
	var es Errors
	if errors.As(err, &es) {
		parts := make([]string, len(es))
		for i, e := range es {
			parts[i] = e.fieldMessage()
		}
		return strings.Join(parts, "; ")
	}
	var e *Error
	if errors.As(err, &e) {
		return e.fieldMessage()
	}
	return PublicMessage(err)
}

// fieldMessage names the field only when the message is a predicate about it ("is required",
// "must be …"); a message that is a sentence of its own ("no such connection in this
// workspace") is shown as it is rather than with the label glued on.
func (e *Error) fieldMessage() string {
	if e.Field == "" || !isPredicate(e.Message) {
		return e.Message
	}
	return e.Field + " " + e.Message
}

// predicateVerbs begin the messages that complete "<field> …".
var predicateVerbs = []string{"is ", "must ", "cannot ", "are ", "has ", "needs ", "does ", "matches "}

func isPredicate(msg string) bool {
	for _, v := range predicateVerbs {
		if strings.HasPrefix(msg, v) {
			return true
		}
	}
	return false
}

// PublicMessage is the message safe to show a caller: the domain message, or a generic one.
func PublicMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	var es Errors
	if errors.As(err, &es) && len(es) > 0 {
		return es[0].Message
	}
	if ErrorCode(err) == EUNAVAILABLE {
		return unavailableMessage
	}
	return "internal error"
}

// JSONMessage turns an encoding/json decoding error into a sentence for the caller: where the
// body stopped being valid JSON, or which field has the wrong type, in JSON's words (string,
// number, object), never Go's type names and never the input itself.
func JSONMessage(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("the request body is not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		what := "the request body"
		if typ.Field != "" {
			what = typ.Field
		}
		if strings.HasPrefix(typ.Value, "number ") && integer(typ.Type) {
			// A number where an integer belongs: a fraction, or one beyond the integer's range.
			// "not number 1.5" would contradict itself and repeat the input.
			return what + " must be a whole number within its range"
		}
		return fmt.Sprintf("%s must be a JSON %s, not %s", what, jsonKind(typ.Type), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body ends before the JSON value does"
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "the request body has an unknown field " + f
	}
	return "the request body is not valid JSON"
}

// integer reports whether t (or what it points to) is an integer type.
func integer(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8,
		reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// jsonKind names a Go type as the JSON value that decodes into it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case integer(t) || t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "array"
	}
	return "object"
}
