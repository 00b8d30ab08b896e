// Package store defines gatehouse's persistent domain types and the small
// interfaces that each storage driver implements. Drivers live in their own
// packages (store/sqlite, store/pgstore) and are checked against the
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
	// ErrDisabled: the identity is disabled (CreateToken).
	ErrDisabled = errors.New("identity is disabled")
	ErrUsed     = errors.New("already used")
	ErrExpired  = errors.New("expired")
	// ErrDecided is returned for a change to a review that is no longer
	// pending.
	ErrDecided = errors.New("already decided")
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
	// CreateToken stores a token; one for a disabled identity fails with
	// ErrDisabled, atomically with DisableIdentity.
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

// Review kinds.
const (
	ReviewStatement = "statement"
	ReviewAccess    = "access"
)

// Review statuses. Pending is the only status that changes.
const (
	ReviewPending  = "pending"
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
	ReviewExpired  = "expired"
)

// Review is a request for just-in-time approval: of one held statement
// (Kind ReviewStatement) or of time-bound access to a connection (Kind
// ReviewAccess).
type Review struct {
	ID              string   `json:"id"` // "r_" and 8 hex digits
	Kind            string   `json:"kind"`
	Status          string   `json:"status"`
	Requester       string   `json:"requester"`
	RequesterGroups []string `json:"requester_groups"`
	Connection      string   `json:"connection"`
	Session         string   `json:"session,omitempty"`
	Policy          string   `json:"policy,omitempty"`
	Rule            string   `json:"rule,omitempty"`
	// Statement is the text held for approval (statement reviews).
	Statement string `json:"statement,omitempty"`
	// StatementHash is the SHA-256 (hex) of the statement's text and
	// parameters: what an approval is bound to.
	StatementHash string `json:"statement_hash,omitempty"`
	// AccessFor is how long an approved access review's grant lasts.
	AccessFor time.Duration `json:"access_for,omitempty"`
	// Reason is the requester's reason.
	Reason string `json:"reason,omitempty"`
	// Approvers are "group:NAME" or "identity:NAME" subjects.
	Approvers    []string  `json:"approvers"`
	MinApprovals int       `json:"min_approvals"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	// DecidedAt is the zero time while the review is pending.
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Votes are the votes cast, oldest first.
	Votes []Vote `json:"votes"`
}

// Vote is one approver's decision on a review.
type Vote struct {
	Identity string    `json:"identity"`
	Approve  bool      `json:"approve"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// ReviewFilter selects reviews for ListReviews. Zero fields match all.
type ReviewFilter struct {
	Status     string
	Requester  string
	Connection string
	// Limit caps the result; zero means 100. Newest reviews come first.
	Limit int
}

// Reviews stores reviews and their votes.
type Reviews interface {
	// CreateReview stores a new review; an existing ID fails with
	// ErrConflict. Votes in r are ignored.
	CreateReview(ctx context.Context, r *Review) error
	// GetReview returns a review with its votes, or ErrNotFound.
	GetReview(ctx context.Context, id string) (*Review, error)
	ListReviews(ctx context.Context, f ReviewFilter) ([]Review, error)
	// AddVote records v and, in the same transaction, decides the review:
	// rejected on a reject vote, approved once MinApprovals distinct
	// identities approved. It returns the review after the vote. It fails
	// with ErrConflict when v.Identity already voted, ErrDecided when the
	// review is not pending, ErrExpired when v.At is at or after
	// ExpiresAt (the review stays pending until ExpireReview), and
	// ErrNotFound.
	AddVote(ctx context.Context, id string, v Vote) (*Review, error)
	// ExpireReview moves a pending review to expired at at. It fails with
	// ErrDecided when the review is not pending, and ErrNotFound.
	ExpireReview(ctx context.Context, id string, at time.Time) (*Review, error)
}

// Identity is an identity an admin disabled: it may not sign in, and its
// tokens stop working. DisabledAt is zero once it is enabled again.
type Identity struct {
	Name       string    `json:"name"`
	DisabledAt time.Time `json:"disabled_at,omitzero"`
	DisabledBy string    `json:"disabled_by,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}

// Identities stores which identities are disabled.
type Identities interface {
	// DisableIdentity disables name and revokes all of its tokens at at,
	// returning the IDs of the tokens it revoked.
	DisableIdentity(ctx context.Context, name, by, reason string, at time.Time) ([]string, error)
	// EnableIdentity lets name sign in again; its revoked tokens stay
	// revoked. An identity that is not disabled fails with ErrNotFound.
	EnableIdentity(ctx context.Context, name string) error
	// ListIdentities returns the identities that are disabled.
	ListIdentities(ctx context.Context) ([]Identity, error)
}

// Audit event types.
const (
	AuditLogin          = "login"           // a token was used to sign in (failures only are kept for bearer use)
	AuditLoginFailed    = "login.failed"    // a sign-in or token use was refused
	AuditExchange       = "token.exchanged" // an IdP or workload token was exchanged for a gatehouse token
	AuditIssue          = "token.issued"
	AuditRevoke         = "token.revoked"
	AuditDisable        = "identity.disabled"
	AuditEnable         = "identity.enabled"
	AuditSessionRevoked = "session.revoked" // a live session ended because its access was revoked
)

// AuditEvent is one authentication event. It never holds a secret.
type AuditEvent struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	OK       bool      `json:"ok"`
	Identity string    `json:"identity,omitempty"`
	// Actor is who did it when that is not Identity (an admin revoking).
	Actor   string `json:"actor,omitempty"`
	Source  string `json:"source,omitempty"` // client address
	TokenID string `json:"token_id,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// AuditFilter selects audit events; zero fields match everything. Events
// come newest first.
type AuditFilter struct {
	Identity string
	Type     string
	Before   int64 // only events with a smaller ID
	Limit    int
}

// Audit stores authentication events.
type Audit interface {
	AppendAudit(ctx context.Context, e *AuditEvent) error
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// Store is everything the gateway persists.
type Store interface {
	Sessions
	Events
	Tokens
	Connectors
	Reviews
	Identities
	Audit
	Close() error
}
