package postgres

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
)

// Recorder receives statement events. The connector implements it with the
// hash-chained spool.
//
// Statement is called from the goroutine that reads the client and Result
// from the one that reads the target, so the two may run concurrently; each
// is called in session order, and a Statement's Results always come after
// its Statement. The *Statement and *Result (and the slices they hold) are
// reused by the engine after the call returns: copy or encode what you keep.
type Recorder interface {
	// Statement is called before the statement is forwarded to the target.
	// If it returns an error the session ends (fail closed: a statement
	// that cannot be recorded must not run).
	Statement(s *Statement) error
	// Result is called when a statement finishes (CommandComplete,
	// EmptyQueryResponse, ErrorResponse, PortalSuspended or
	// FunctionCallResponse), in order. An error ends the session.
	Result(r *Result) error
}

// MaxValueLen is how much of each Bind parameter a Statement carries.
const MaxValueLen = 1024

// Value is one Bind parameter.
type Value struct {
	Null      bool
	Format    int16  // 0 text, 1 binary
	Data      []byte // at most MaxValueLen bytes
	Truncated bool   // Data holds only the first MaxValueLen bytes
	Size      int    // full length in bytes; 0 for NULL
}

// Protocols of a Statement.
const (
	ProtocolSimple   = "simple"
	ProtocolExtended = "extended"
	ProtocolFunction = "function" // FunctionCall message; Text names the function OID
)

// Statement is one statement about to be forwarded to the target.
type Statement struct {
	// Seq numbers the statements of a session from 1; Results carry it.
	Seq      uint64
	Protocol string // ProtocolSimple, ProtocolExtended or ProtocolFunction
	// Text is the full query text: the simple Query string (which may hold
	// several statements) or the Parse text of the executed statement. It is
	// empty when the statement was prepared outside the protocol (SQL
	// PREPARE) or the portal is an SQL cursor.
	Text   string
	Name   string // prepared statement name, "" for the unnamed one (extended)
	Portal string // portal name (extended)
	Params []Value
	Time   time.Time // when the statement arrived (before any hold)

	// Decision, Policy, Rule and Reason say why the statement was allowed
	// or denied, as Upstream.Check filled them in (Decision in the policy
	// engine's words: "allow", "deny", "review", ...). When Check leaves
	// Decision empty the engine sets DecisionAllow or DecisionDeny; without
	// a Check all four stay empty.
	Decision string
	Policy   string // name of the policy that decided
	Rule     string // the rule within it
	Reason   string // the rule's reason, or the reviewer's

	// Masked counts what masking replaced in Text and Params, which are
	// recorded masked (the target gets them as the client sent them).
	Masked []mask.Hit
}

// Result is the outcome of one statement. A simple Query holding several
// statements gets one Result per statement; executes that the server
// skipped after an error in the same batch get none.
type Result struct {
	Seq      uint64        // the Statement's Seq
	Tag      string        // command tag; "" for an empty query or an error
	Rows     int64         // DataRows sent for it, or the count in the tag
	Duration time.Duration // from forwarding (or the previous result of the same Query) to completion
	Error    *Error        // the target's error, or the Denial as the client saw it; nil on success
	Time     time.Time
	// Masked counts the values masking replaced in what the client
	// received for this statement, by rule; never the values.
	Masked []mask.Hit
	// Sample holds the first rows the client received for the statement,
	// masked, within Upstream.Rows; nil when no row came or none are kept.
	// It is valid until Result returns.
	Sample *RowSample
}
