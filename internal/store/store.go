// Package store defines gatehouse's persistent domain types and the small
// interfaces that each storage driver implements. Drivers live in their own
// packages (store/sqlite, later store/postgres) and are checked against the
// same conformance suite in store/storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors that callers test for.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	ErrUsed     = errors.New("already used")
	ErrExpired  = errors.New("expired")
)

// Session statuses.
const (
	StatusActive = "active"
	StatusEnded  = "ended"
	StatusFailed = "failed"
)

// Session is one client session through the gateway.
type Session struct {
	ID           string    `json:"id"`
	Identity     string    `json:"identity"`
	Groups       []string  `json:"groups"`
	Connection   string    `json:"connection"`
	Connector    string    `json:"connector"`
	Protocol     string    `json:"protocol"`
	Database     string    `json:"database,omitempty"`
	ClientAddr   string    `json:"client_addr"`
	Policy       string    `json:"policy"`
	PolicyDigest string    `json:"policy_digest"`
	TokenID      string    `json:"token_id,omitempty"`
	StartedAt    time.Time `json:"started_at"`
	// EndedAt is the zero time while the session is active.
	EndedAt time.Time `json:"ended_at,omitzero"`
	Status  string    `json:"status"`
	// Error is the user-visible reason a session failed or was ended, if any.
	Error string `json:"error,omitempty"`
	// Statements counts statement events ingested for the session.
	Statements int64 `json:"statements"`
	// LastSeq and LastHash describe the newest ingested event.
	LastSeq  uint64 `json:"last_seq"`
	LastHash string `json:"last_hash,omitempty"`
	// SignedSeq and Signature hold the gateway's signature over the
	// session's closing event (see recording.Sign); empty until signed.
	SignedSeq uint64 `json:"signed_seq,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// SessionFilter selects sessions for ListSessions. Zero fields match all.
type SessionFilter struct {
	Identity   string
	Connection string
	Status     string
	// Limit caps the result; zero means 100. Newest sessions come first.
	Limit int
}

// Event is one recorded session event as stored. Data is the event's JSON
// payload exactly as hashed by the connector; the store never rewrites it.
type Event struct {
	Session string          `json:"session"`
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
	Prev    string          `json:"prev"`
	Hash    string          `json:"hash"`
}

// Token is an issued gatehouse token. Only a hash of the secret is stored.
type Token struct {
	ID        string    `json:"id"`
	Hash      []byte    `json:"-"`
	Identity  string    `json:"identity"`
	Groups    []string  `json:"groups"`
	Kind      string    `json:"kind"` // admin, person, workload, service
	IssuedBy  string    `json:"issued_by,omitempty"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// RevokedAt is the zero time unless the token was revoked.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// JoinToken is a one-time token that lets a connector enroll.
type JoinToken struct {
	Hash      []byte
	Connector string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is the zero time until the token is consumed.
	UsedAt time.Time
}

// Connector is an enrolled connector.
type Connector struct {
	Name string `json:"name"`
	// CertSerial is the serial of the newest client certificate issued to it.
	CertSerial string    `json:"cert_serial"`
	JoinedAt   time.Time `json:"joined_at"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
}

// Sessions stores session metadata.
type Sessions interface {
	CreateSession(ctx context.Context, s *Session) error
	// EndSession marks a session ended (or failed) once; later calls are no-ops.
	EndSession(ctx context.Context, id string, at time.Time, status, reason string) error
	GetSession(ctx context.Context, id string) (*Session, error)
	ListSessions(ctx context.Context, f SessionFilter) ([]Session, error)
	// SignSession stores the gateway's signature over the event with the
	// given seq (the session's closing event).
	SignSession(ctx context.Context, id string, seq uint64, sig string) error
}

// Events stores recorded session events.
type Events interface {
	// AppendEvents stores events and advances each session's LastSeq,
	// LastHash and Statements. Events already stored (same session and seq)
	// are ignored, so a shipper may resend a batch after a lost ack.
	AppendEvents(ctx context.Context, evs []Event) error
	// ListEvents returns a session's events with seq > after, in order;
	// limit zero means all.
	ListEvents(ctx context.Context, session string, after uint64, limit int) ([]Event, error)
}

// Tokens stores issued tokens.
type Tokens interface {
	CreateToken(ctx context.Context, t *Token) error
	// TokenByHash returns the token with the given secret hash, revoked or
	// expired ones included; callers check validity.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	GetToken(ctx context.Context, id string) (*Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	ListTokens(ctx context.Context) ([]Token, error)
}

// Connectors stores join tokens and enrolled connectors.
type Connectors interface {
	CreateJoinToken(ctx context.Context, jt *JoinToken) error
	// ConsumeJoinToken marks the token used and returns it. It fails with
	// ErrNotFound, ErrUsed or ErrExpired.
	ConsumeJoinToken(ctx context.Context, hash []byte, now time.Time) (*JoinToken, error)
	UpsertConnector(ctx context.Context, c *Connector) error
	GetConnector(ctx context.Context, name string) (*Connector, error)
	ListConnectors(ctx context.Context) ([]Connector, error)
	TouchConnector(ctx context.Context, name string, at time.Time) error
}

// Store is everything the gateway persists.
type Store interface {
	Sessions
	Events
	Tokens
	Connectors
	Close() error
}
