// Package apitest starts a real gatehouse API server for tests: an
// api.Server over a SQLite store in a temporary directory, with real token
// issuing and session signing, and helpers to record sessions into it.
package apitest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/review"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
)

// Env is a running API server and what backs it.
type Env struct {
	URL        string
	Store      *sqlite.DB
	Issuer     *auth.Issuer
	Key        ed25519.PrivateKey
	AdminToken string
	Server     *api.Server
	path       string

	mu     sync.Mutex
	online map[string]bool
}

// Start starts a server on a random loopback port, stopped at cleanup.
func Start(tb testing.TB) *Env {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "gatehouse.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatalf("generate key: %v", err)
	}
	e := &Env{Store: db, Issuer: &auth.Issuer{Store: db}, Key: key, path: path, online: map[string]bool{}}
	e.Server = &api.Server{
		Store:        db,
		Authenticate: e.Issuer.Authenticate,
		IssueToken: func(ctx context.Context, by *auth.Principal, identity string, groups []string, ttl time.Duration) (string, *store.Token, error) {
			return e.Issuer.Issue(ctx, auth.IssueRequest{Identity: identity, Groups: groups, Kind: auth.KindPerson, TTL: ttl, IssuedBy: by.Identity})
		},
		RevokeToken: func(ctx context.Context, _ *auth.Principal, id string) error { return e.Issuer.Revoke(ctx, id) },
		JoinToken: func(ctx context.Context, connector string, ttl time.Duration) (string, error) {
			var raw [24]byte
			if _, err := rand.Read(raw[:]); err != nil {
				return "", err
			}
			tok := fmt.Sprintf("ghj_%x", raw)
			now := time.Now()
			err := db.CreateJoinToken(ctx, &store.JoinToken{Hash: auth.HashToken(tok), Connector: connector, CreatedAt: now, ExpiresAt: now.Add(ttl)})
			return tok, err
		},
		ConnectorOnline: func(name string) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.online[name]
		},
		Reviews:   &review.Service{Store: db},
		PublicKey: key.Public().(ed25519.PublicKey),
		Logger:    slog.New(slog.DiscardHandler),
	}
	srv := httptest.NewServer(e.Server.Handler())
	tb.Cleanup(srv.Close)
	e.URL = srv.URL
	e.AdminToken = e.Token(tb, "admin", auth.KindAdmin)
	return e
}

// SetOnline marks a connector as having a live tunnel.
func (e *Env) SetOnline(name string, online bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.online[name] = online
}

// Token issues a one-hour token of the given kind for identity.
func (e *Env) Token(tb testing.TB, identity, kind string, groups ...string) string {
	tb.Helper()
	tok, _, err := e.Issuer.Issue(context.Background(), auth.IssueRequest{Identity: identity, Groups: groups, Kind: kind, TTL: time.Hour})
	if err != nil {
		tb.Fatalf("issue token: %v", err)
	}
	return tok
}

// Statement is one statement of a recorded session and its result; an
// empty Tag with a non-empty ErrCode records an error result.
type Statement struct {
	Text    string
	Params  []string
	Tag     string
	Rows    int64
	ErrCode string
	ErrMsg  string
	// Columns and Sample are the kept rows; Sample's values are strings
	// or nil for NULL.
	Columns []string
	Sample  [][]any
}

// Session describes a session to record.
type Session struct {
	ID         string
	Identity   string
	Connection string
	Start      time.Time
	Statements []Statement
	// Open leaves the session active and unsigned.
	Open bool
}

// Record stores a session with a hash-chained recording of its statements
// and, unless s.Open, ends and signs it as the gateway would.
func (e *Env) Record(tb testing.TB, s Session) {
	tb.Helper()
	ctx := context.Background()
	if s.Start.IsZero() {
		s.Start = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	if s.Connection == "" {
		s.Connection = "prod-db"
	}
	err := e.Store.CreateSession(ctx, &store.Session{
		ID: s.ID, Identity: s.Identity, Groups: []string{"dev"}, Connection: s.Connection, Connector: "embedded",
		Protocol: "postgres", Database: "app", ClientAddr: "127.0.0.1:5555", Policy: "dev",
		StartedAt: s.Start, Status: store.StatusActive,
	})
	if err != nil {
		tb.Fatalf("create session: %v", err)
	}
	chain := recording.NewChain(s.ID)
	at := s.Start
	var evs []recording.Event
	add := func(typ string, v any) {
		data, err := json.Marshal(v)
		if err != nil {
			tb.Fatalf("marshal event: %v", err)
		}
		evs = append(evs, chain.Next(at, typ, data))
		at = at.Add(250 * time.Millisecond)
	}
	add(recording.TypeSessionStart, map[string]any{
		"identity": s.Identity, "groups": []string{"dev"}, "connection": s.Connection, "database": "app",
		"client_addr": "127.0.0.1:5555", "policy": "dev", "connector": "embedded", "protocol": "postgres",
	})
	for _, st := range s.Statements {
		params := []map[string]any{}
		for _, p := range st.Params {
			params = append(params, map[string]any{"text": p, "size": len(p)})
		}
		proto := "simple"
		if len(params) > 0 {
			proto = "extended"
		}
		add(recording.TypeStatement, map[string]any{"protocol": proto, "text": st.Text, "params": params})
		res := map[string]any{"tag": st.Tag, "rows": st.Rows, "duration_ms": 1.5}
		if st.Columns != nil {
			res["columns"], res["sample"] = st.Columns, st.Sample
		}
		if st.ErrCode != "" {
			res = map[string]any{"duration_ms": 0.5, "error": map[string]any{"severity": "ERROR", "code": st.ErrCode, "message": st.ErrMsg}}
		}
		add(recording.TypeResult, res)
	}
	if !s.Open {
		add(recording.TypeSessionEnd, map[string]any{"reason": "client closed", "statements": len(s.Statements)})
	}
	batch := make([]store.Event, len(evs))
	for i, ev := range evs {
		batch[i] = store.Event{Session: ev.Session, Seq: ev.Seq, Time: ev.Time, Type: ev.Type, Data: ev.Data, Prev: ev.Prev, Hash: ev.Hash}
	}
	if err := e.Store.AppendEvents(ctx, batch); err != nil {
		tb.Fatalf("append events: %v", err)
	}
	if s.Open {
		return
	}
	if err := e.Store.EndSession(ctx, s.ID, at, store.StatusEnded, ""); err != nil {
		tb.Fatalf("end session: %v", err)
	}
	seq, hash := chain.Last()
	if err := e.Store.SignSession(ctx, s.ID, seq, recording.Sign(e.Key, s.ID, seq, hash)); err != nil {
		tb.Fatalf("sign session: %v", err)
	}
}

// Exec runs SQL directly on the store's file, behind the store's back, to
// tamper with what it holds.
func (e *Env) Exec(tb testing.TB, query string, args ...any) {
	tb.Helper()
	db, err := sql.Open("sqlite", e.path)
	if err != nil {
		tb.Fatalf("open %s: %v", e.path, err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		tb.Fatalf("exec %q: %v", query, err)
	}
}

// EditEvents rewrites the stored events of a session with edit, behind
// the store's back, as an attacker with write access to the file could.
func (e *Env) EditEvents(tb testing.TB, session string, edit func([]store.Event) []store.Event) {
	tb.Helper()
	db, err := sql.Open("sqlite", e.path)
	if err != nil {
		tb.Fatalf("open %s: %v", e.path, err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT data FROM event_chunks WHERE session = ? ORDER BY first_seq`, session)
	if err != nil {
		tb.Fatal(err)
	}
	var evs []store.Event
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			tb.Fatal(err)
		}
		got, err := sqlite.DecodeEventChunk(session, b)
		if err != nil {
			tb.Fatal(err)
		}
		evs = append(evs, got...)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	rows.Close()
	evs = edit(evs)
	if _, err := db.Exec(`DELETE FROM event_chunks WHERE session = ?`, session); err != nil {
		tb.Fatal(err)
	}
	at := 0
	for _, chunk := range sqlite.EncodeEventChunks(evs) {
		n, err := sqlite.DecodeEventChunk(session, chunk)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO event_chunks (session, first_seq, last_seq, n, data) VALUES (?, ?, ?, ?, ?)`,
			session, int64(evs[at].Seq), int64(evs[at+len(n)-1].Seq), len(n), chunk); err != nil {
			tb.Fatal(err)
		}
		at += len(n)
	}
}

// Review creates a pending review through the server's review service, as
// the gateway does when it holds a statement. Empty fields get defaults: a
// statement review by alice on prod-db, approved by group:dba.
func (e *Env) Review(tb testing.TB, r store.Review) *store.Review {
	tb.Helper()
	if r.Kind == "" {
		r.Kind = store.ReviewStatement
	}
	if r.Kind == store.ReviewStatement && r.Statement == "" {
		r.Statement = "delete from orders where id = $1"
	}
	if r.Kind == store.ReviewStatement && r.StatementHash == "" {
		r.StatementHash = review.StatementHash(r.Statement, nil)
	}
	if r.Requester == "" {
		r.Requester = "alice"
	}
	if r.Connection == "" {
		r.Connection = "prod-db"
	}
	if r.Approvers == nil {
		r.Approvers = []string{"group:dba"}
	}
	got, err := e.Server.Reviews.Create(context.Background(), &r)
	if err != nil {
		tb.Fatalf("create review: %v", err)
	}
	return got
}
