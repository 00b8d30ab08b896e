package postgres

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Param is a run-time parameter reported with ParameterStatus.
type Param struct {
	Name, Value string
}

// Error is a protocol error a client may see; it is sent as an
// ErrorResponse. Open returns these for refusals, and Dial returns errors
// that wrap one (errors.As finds it) around the internal cause.
type Error struct {
	Severity string // ERROR, FATAL, ...
	Code     string // SQLSTATE, e.g. 28P01
	Message  string
	Detail   string // optional
}

// Error returns "SEVERITY: message (SQLSTATE code)".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (SQLSTATE %s)", e.Severity, e.Message, e.Code)
}

// appendTo appends e as an ErrorResponse message to dst.
func (e *Error) appendTo(dst []byte) []byte {
	sev := e.Severity
	if sev == "" {
		sev = "FATAL"
	}
	msg := pgproto3.ErrorResponse{
		Severity:            sev,
		SeverityUnlocalized: sev,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
	}
	out, err := msg.Encode(dst)
	if err != nil {
		// Encode fails only for bodies over 1 GiB.
		return dst
	}
	return out
}

// Errors that Front and Dial send to clients.
var (
	errTLSRequired   = &Error{Severity: "FATAL", Code: "28000", Message: "gatehouse: TLS required"}
	errNoUser        = &Error{Severity: "FATAL", Code: "28000", Message: "gatehouse: no user name (connection name) in startup packet"}
	errReplication   = &Error{Severity: "FATAL", Code: "0A000", Message: "gatehouse: replication connections are not supported"}
	errBadProtocol   = &Error{Severity: "FATAL", Code: "08P01", Message: "gatehouse: invalid startup packet"}
	errBadVersion    = &Error{Severity: "FATAL", Code: "0A000", Message: "gatehouse: unsupported frontend protocol"}
	errBadPassword   = &Error{Severity: "FATAL", Code: "08P01", Message: "gatehouse: expected a password response"}
	errCannotConnect = &Error{Severity: "FATAL", Code: "08006", Message: "gatehouse: cannot connect to the target database"}
	errTargetAuth    = &Error{Severity: "FATAL", Code: "28000", Message: "gatehouse: the target database refused the connector's login"}
	errNoDatabase    = &Error{Severity: "FATAL", Code: "3D000", Message: "gatehouse: the database does not exist on the target"}
	errTerminated    = &Error{Severity: "FATAL", Code: "57P01", Message: "gatehouse: session terminated"}
	errNotRecorded   = &Error{Severity: "FATAL", Code: "58030", Message: "gatehouse: the statement could not be recorded, so it was not run; session ended"}
	errProtocol      = &Error{Severity: "FATAL", Code: "08P01", Message: "gatehouse: protocol violation"}
)

// causeError keeps the error a client may see apart from the internal cause
// that goes to the log. errors.As finds the public *Error.
type causeError struct {
	public *Error
	cause  error
	secret string // scrubbed from Error() if the cause ever echoes it
}

func (e *causeError) Error() string {
	s := e.public.Message + ": " + e.cause.Error()
	if e.secret != "" {
		s = strings.ReplaceAll(s, e.secret, "[redacted]")
	}
	return s
}

func (e *causeError) Unwrap() []error { return []error{e.public, e.cause} }
