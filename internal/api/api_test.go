package api_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// response is a finished API call.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with an optional bearer token and body.
func call(tb testing.TB, e *apitest.Env, method, path, token, body string) response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s %s: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func decode[T any](tb testing.TB, r response) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		tb.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

type errBody struct {
	Error string `json:"error"`
	Ref   string `json:"ref"`
}

// wantError checks an error answer's status and shape.
func wantError(tb testing.TB, r response, status int) errBody {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status: got %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("content type: got %q, want application/json", ct)
	}
	eb := decode[errBody](tb, r)
	if eb.Error == "" || len(eb.Ref) != 16 {
		tb.Errorf("error body: got %s, want an error and a 16-character ref", r.body)
	}
	return eb
}

func TestHealthz(t *testing.T) {
	e := apitest.Start(t)
	r := call(t, e, "GET", "/healthz", "", "")
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != `{"status":"ok"}` {
		t.Fatalf("got %d %s, want 200 {\"status\":\"ok\"}", r.status, r.body)
	}
}

var authedRoutes = []struct{ method, path, body string }{
	{"GET", "/api/v1/whoami", ""},
	{"GET", "/api/v1/sessions", ""},
	{"GET", "/api/v1/sessions/s1", ""},
	{"GET", "/api/v1/sessions/s1/events", ""},
	{"GET", "/api/v1/sessions/s1/verify", ""},
	{"POST", "/api/v1/tokens", `{"identity":"x"}`},
	{"GET", "/api/v1/tokens", ""},
	{"POST", "/api/v1/tokens/tok_1/revoke", ""},
	{"POST", "/api/v1/connectors/join-tokens", `{"name":"dc1"}`},
	{"GET", "/api/v1/connectors", ""},
}

func TestAuthRequired(t *testing.T) {
	e := apitest.Start(t)
	revoked := e.Token(t, "mallory", auth.KindAdmin)
	tok, err := e.Issuer.Authenticate(context.Background(), revoked)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Issuer.Revoke(context.Background(), tok.TokenID); err != nil {
		t.Fatal(err)
	}
	expired, _, err := (&auth.Issuer{Store: e.Store, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}).
		Issue(context.Background(), auth.IssueRequest{Identity: "old", Kind: auth.KindAdmin, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	creds := []struct{ name, header string }{
		{"none", ""},
		{"empty bearer", "Bearer "},
		{"basic", "Basic YWRtaW46eA=="},
		{"garbage", "Bearer not-a-token"},
		{"unknown", "Bearer ght_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"revoked", "Bearer " + revoked},
		{"expired", "Bearer " + expired},
	}
	for _, rt := range authedRoutes {
		for _, c := range creds {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				req, err := http.NewRequest(rt.method, e.URL+rt.path, strings.NewReader(rt.body))
				if err != nil {
					t.Fatal(err)
				}
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				wantError(t, response{resp.StatusCode, resp.Header, b}, http.StatusUnauthorized)
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate: got %q, want Bearer", got)
				}
			})
		}
	}
}

func TestAdminOnly(t *testing.T) {
	e := apitest.Start(t)
	person := e.Token(t, "alice", auth.KindPerson)
	for _, rt := range authedRoutes {
		if !strings.Contains(rt.path, "tokens") && !strings.Contains(rt.path, "connectors") {
			continue
		}
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			wantError(t, call(t, e, rt.method, rt.path, person, rt.body), http.StatusForbidden)
		})
	}
	// Nothing was done on the person's behalf.
	tokens, err := e.Store.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 2 {
		t.Errorf("tokens in store: got %d, want 2 (admin and alice)", len(tokens))
	}
}

func TestWhoami(t *testing.T) {
	e := apitest.Start(t)
	tok := e.Token(t, "alice@example.com", auth.KindPerson, "dev", "ops")
	p := decode[auth.Principal](t, call(t, e, "GET", "/api/v1/whoami", tok, ""))
	if p.Identity != "alice@example.com" || p.Kind != auth.KindPerson || !cmp.Equal(p.Groups, []string{"dev", "ops"}) {
		t.Errorf("whoami: got %+v, want alice@example.com, person, [dev ops]", p)
	}
}

func TestSessionVisibility(t *testing.T) {
	e := apitest.Start(t)
	e.Record(t, apitest.Session{ID: "s_alice", Identity: "alice", Statements: []apitest.Statement{{Text: "select 1", Tag: "SELECT 1", Rows: 1}}})
	e.Record(t, apitest.Session{ID: "s_bob", Identity: "bob", Connection: "other-db", Start: time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)})
	alice := e.Token(t, "alice", auth.KindPerson)

	ids := func(r response) []string {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("status: got %d, want 200 (%s)", r.status, r.body)
		}
		var out []string
		for _, s := range decode[[]store.Session](t, r) {
			out = append(out, s.ID)
		}
		return out
	}
	lists := []struct {
		name, token, query string
		want               []string
	}{
		{"admin sees all", e.AdminToken, "", []string{"s_bob", "s_alice"}},
		{"admin filters identity", e.AdminToken, "?identity=alice", []string{"s_alice"}},
		{"admin filters connection", e.AdminToken, "?connection=other-db", []string{"s_bob"}},
		{"admin filters status", e.AdminToken, "?status=active", nil},
		{"admin limit", e.AdminToken, "?limit=1", []string{"s_bob"}},
		{"person sees own", alice, "", []string{"s_alice"}},
		{"person asks for another identity", alice, "?identity=bob", nil},
		{"person asks for own identity", alice, "?identity=alice", []string{"s_alice"}},
	}
	for _, tc := range lists {
		t.Run("list/"+tc.name, func(t *testing.T) {
			if got := ids(call(t, e, "GET", "/api/v1/sessions"+tc.query, tc.token, "")); !cmp.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, q := range []string{"?status=bogus", "?limit=-1", "?limit=x", "?limit=100000"} {
		t.Run("bad query "+q, func(t *testing.T) {
			wantError(t, call(t, e, "GET", "/api/v1/sessions"+q, e.AdminToken, ""), http.StatusBadRequest)
		})
	}

	for _, suffix := range []string{"", "/events", "/verify"} {
		t.Run("get"+suffix, func(t *testing.T) {
			own := call(t, e, "GET", "/api/v1/sessions/s_alice"+suffix, alice, "")
			if own.status != http.StatusOK {
				t.Fatalf("own session: got %d, want 200 (%s)", own.status, own.body)
			}
			if r := call(t, e, "GET", "/api/v1/sessions/s_bob"+suffix, e.AdminToken, ""); r.status != http.StatusOK {
				t.Fatalf("admin: got %d, want 200 (%s)", r.status, r.body)
			}
			other := wantError(t, call(t, e, "GET", "/api/v1/sessions/s_bob"+suffix, alice, ""), http.StatusNotFound)
			unknown := wantError(t, call(t, e, "GET", "/api/v1/sessions/s_nope"+suffix, alice, ""), http.StatusNotFound)
			if other.Error != unknown.Error {
				t.Errorf("another's session answers %q, an unknown one %q: want the same", other.Error, unknown.Error)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	e := apitest.Start(t)
	e.Record(t, apitest.Session{ID: "s1", Identity: "alice", Statements: []apitest.Statement{
		{Text: "select '<b>&'", Tag: "SELECT 1", Rows: 1},
		{Text: "select 2", Tag: "SELECT 1", Rows: 1},
	}})
	stored, err := e.Store.ListEvents(context.Background(), "s1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		wantSeqs    []uint64
	}{
		{"all", "", []uint64{1, 2, 3, 4, 5, 6}},
		{"after", "?after=4", []uint64{5, 6}},
		{"page", "?after=1&limit=2", []uint64{2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, e, "GET", "/api/v1/sessions/s1/events"+tc.query, e.AdminToken, "")
			evs := decode[[]store.Event](t, r)
			var seqs []uint64
			for _, ev := range evs {
				seqs = append(seqs, ev.Seq)
				// Data must come back byte for byte as hashed.
				if want := stored[ev.Seq-1].Data; !bytes.Equal(ev.Data, want) {
					t.Errorf("event %d data: got %s, want %s", ev.Seq, ev.Data, want)
				}
			}
			if !cmp.Equal(seqs, tc.wantSeqs) {
				t.Errorf("seqs: got %v, want %v", seqs, tc.wantSeqs)
			}
		})
	}
	wantError(t, call(t, e, "GET", "/api/v1/sessions/s1/events?after=-1", e.AdminToken, ""), http.StatusBadRequest)
}

func TestVerify(t *testing.T) {
	stmts := []apitest.Statement{
		{Text: "select * from customers where id = $1", Params: []string{"42"}, Tag: "SELECT 1", Rows: 1},
		{Text: "drop table customers", ErrCode: "42501", ErrMsg: "gatehouse: blocked by policy dev"},
	}
	tests := []struct {
		name   string
		open   bool
		tamper func(t *testing.T, e *apitest.Env)
		want   api.VerifyResult
	}{
		{name: "intact", want: api.VerifyResult{OK: true, Events: 6, Signature: "valid"}},
		{name: "open session is not signed yet", open: true, want: api.VerifyResult{OK: true, Events: 5, Signature: "missing"}},
		{
			name: "statement text changed",
			tamper: func(t *testing.T, e *apitest.Env) {
				e.EditEvents(t, "s1", func(evs []store.Event) []store.Event {
					evs[3].Data = json.RawMessage(strings.Replace(string(evs[3].Data), "drop table", "select * from", 1))
					return evs
				})
			},
			want: api.VerifyResult{Events: 6, FirstBadSeq: 4, Reason: "hash mismatch", Signature: "valid"},
		},
		{
			name: "event deleted from the middle",
			tamper: func(t *testing.T, e *apitest.Env) {
				e.EditEvents(t, "s1", func(evs []store.Event) []store.Event { return slices.Delete(evs, 1, 2) })
			},
			want: api.VerifyResult{Events: 5, FirstBadSeq: 2, Reason: "out of sequence: found seq 3", Signature: "valid"},
		},
		{
			name: "last event deleted",
			tamper: func(t *testing.T, e *apitest.Env) {
				e.EditEvents(t, "s1", func(evs []store.Event) []store.Event { return evs[:5] })
			},
			want: api.VerifyResult{Events: 5, FirstBadSeq: 6, Reason: "missing: the recording ends at event 5, but the gateway signed event 6 as the last", Signature: "valid"},
		},
		{
			name: "last events and the head rewritten",
			tamper: func(t *testing.T, e *apitest.Env) {
				var hash string
				e.EditEvents(t, "s1", func(evs []store.Event) []store.Event {
					hash = evs[2].Hash
					return evs[:3]
				})
				e.Exec(t, `UPDATE session_stats SET last_seq = 3, last_hash = ? WHERE session = 's1'`, hash)
			},
			want: api.VerifyResult{Events: 3, FirstBadSeq: 4, Reason: "missing: the recording ends at event 3, but the gateway signed event 6 as the last", Signature: "invalid"},
		},
		{
			name: "signature forged",
			tamper: func(t *testing.T, e *apitest.Env) {
				e.Exec(t, `UPDATE sessions SET signature = ? WHERE id = 's1'`, strings.Repeat("A", 86)+"==")
			},
			want: api.VerifyResult{Events: 6, Signature: "invalid"},
		},
		{
			name: "signature removed and events cut off",
			tamper: func(t *testing.T, e *apitest.Env) {
				e.Exec(t, `UPDATE sessions SET signature = '', signed_seq = 0 WHERE id = 's1'`)
				e.EditEvents(t, "s1", func(evs []store.Event) []store.Event { return evs[:5] })
			},
			want: api.VerifyResult{Events: 5, FirstBadSeq: 6, Reason: "missing: the recording ends at event 5, but the session's head is event 6", Signature: "missing"},
		},
		{
			name: "ended but never signed",
			tamper: func(t *testing.T, e *apitest.Env) {
				e.Exec(t, `UPDATE sessions SET signature = '', signed_seq = 0 WHERE id = 's1'`)
			},
			want: api.VerifyResult{Events: 6, FirstBadSeq: 7, Reason: "missing: the session ended (ended) but its recording was never closed and signed", Signature: "missing"},
		},
		{
			name: "ended with no events",
			tamper: func(t *testing.T, e *apitest.Env) {
				e.Exec(t, `UPDATE sessions SET signature = '', signed_seq = 0 WHERE id = 's1'`)
				e.EditEvents(t, "s1", func([]store.Event) []store.Event { return nil })
				e.Exec(t, `UPDATE session_stats SET last_seq = 0, last_hash = '' WHERE session = 's1'`)
			},
			want: api.VerifyResult{FirstBadSeq: 1, Reason: "missing: the session ended (ended) with no events recorded", Signature: "missing"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := apitest.Start(t)
			e.Record(t, apitest.Session{ID: "s1", Identity: "alice", Statements: stmts, Open: tc.open})
			if tc.tamper != nil {
				tc.tamper(t, e)
			}
			r := call(t, e, "GET", "/api/v1/sessions/s1/verify", e.AdminToken, "")
			if r.status != http.StatusOK {
				t.Fatalf("status: got %d, want 200 (%s)", r.status, r.body)
			}
			if diff := cmp.Diff(tc.want, decode[api.VerifyResult](t, r)); diff != "" {
				t.Errorf("verify (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	e := apitest.Start(t)
	var bodies [][]byte
	do := func(method, path, token, body string) response {
		r := call(t, e, method, path, token, body)
		bodies = append(bodies, r.body)
		return r
	}

	r := do("POST", "/api/v1/tokens", e.AdminToken, `{"identity":"ci:deploy","groups":["ci-deployers"],"ttl":"15m"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("issue: got %d, want 201 (%s)", r.status, r.body)
	}
	issuedBody := string(r.body)
	issued := decode[api.IssuedToken](t, r)
	if !auth.WellFormed(issued.Token) || issued.Identity != "ci:deploy" || !cmp.Equal(issued.Groups, []string{"ci-deployers"}) {
		t.Fatalf("issued: got %+v", issued)
	}
	if d := time.Until(issued.ExpiresAt); d <= 14*time.Minute || d > 15*time.Minute {
		t.Errorf("expires in %s, want about 15m", d)
	}

	who := decode[auth.Principal](t, do("GET", "/api/v1/whoami", issued.Token, ""))
	if who.Identity != "ci:deploy" || who.IsAdmin() {
		t.Errorf("whoami with the issued token: got %+v, want ci:deploy, not admin", who)
	}
	wantError(t, do("POST", "/api/v1/tokens", issued.Token, `{"identity":"x"}`), http.StatusForbidden)

	list := decode[[]api.TokenInfo](t, do("GET", "/api/v1/tokens", e.AdminToken, ""))
	var found *api.TokenInfo
	for i := range list {
		if list[i].ID == issued.ID {
			found = &list[i]
		}
	}
	if found == nil || found.Status != api.TokenActive || found.IssuedBy != "admin" {
		t.Fatalf("list: got %+v, want %s active issued by admin", list, issued.ID)
	}

	if r := do("POST", "/api/v1/tokens/"+issued.ID+"/revoke", e.AdminToken, ""); r.status != http.StatusNoContent {
		t.Fatalf("revoke: got %d, want 204 (%s)", r.status, r.body)
	}
	wantError(t, do("GET", "/api/v1/whoami", issued.Token, ""), http.StatusUnauthorized)
	wantError(t, do("POST", "/api/v1/tokens/tok_unknown/revoke", e.AdminToken, ""), http.StatusNotFound)
	list = decode[[]api.TokenInfo](t, do("GET", "/api/v1/tokens", e.AdminToken, ""))
	for _, ti := range list {
		if ti.ID == issued.ID && (ti.Status != api.TokenRevoked || ti.RevokedAt.IsZero()) {
			t.Errorf("after revoke: got %+v, want revoked", ti)
		}
	}

	// No answer but the issuing one carries a secret or a secret's hash.
	secrets := []string{issued.Token, e.AdminToken, hex.EncodeToString(auth.HashToken(issued.Token)), hex.EncodeToString(auth.HashToken(e.AdminToken))}
	for _, b := range bodies {
		if string(b) == issuedBody {
			continue
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("answer %s contains a secret", b)
			}
		}
	}
}

// TestTokenMaxTTL: a token for an identity lives at most MaxTokenTTL (24
// hours unless set), and a longer ttl is refused with the maximum named.
func TestTokenMaxTTL(t *testing.T) {
	e := apitest.Start(t)
	r := call(t, e, "POST", "/api/v1/tokens", e.AdminToken, `{"identity":"ci:deploy","ttl":"24h"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("ttl 24h: got %d, want 201 (%s)", r.status, r.body)
	}
	if d := time.Until(decode[api.IssuedToken](t, r).ExpiresAt); d <= 23*time.Hour || d > 24*time.Hour {
		t.Errorf("expires in %s, want about 24h", d)
	}
	eb := wantError(t, call(t, e, "POST", "/api/v1/tokens", e.AdminToken, `{"identity":"ci:deploy","ttl":"8760h"}`), http.StatusBadRequest)
	if want := "ttl 8760h is longer than the maximum of 24h (auth.max_token_ttl)"; eb.Error != want {
		t.Errorf("got error %q, want %q", eb.Error, want)
	}
}

func TestRequestBodies(t *testing.T) {
	e := apitest.Start(t)
	tests := []struct {
		name, path, body string
		status           int
	}{
		{"unknown field", "/api/v1/tokens", `{"identity":"a","kind":"admin"}`, http.StatusBadRequest},
		{"trailing data", "/api/v1/tokens", `{"identity":"a"} {}`, http.StatusBadRequest},
		{"not an object", "/api/v1/tokens", `["a"]`, http.StatusBadRequest},
		{"empty", "/api/v1/tokens", ``, http.StatusBadRequest},
		{"too large", "/api/v1/tokens", `{"identity":"` + strings.Repeat("a", 1<<20) + `"}`, http.StatusRequestEntityTooLarge},
		{"bad identity", "/api/v1/tokens", `{"identity":"a b"}`, http.StatusBadRequest},
		{"bad group", "/api/v1/tokens", `{"identity":"a","groups":["$x"]}`, http.StatusBadRequest},
		{"bad ttl", "/api/v1/tokens", `{"identity":"a","ttl":"forever"}`, http.StatusBadRequest},
		{"negative ttl", "/api/v1/tokens", `{"identity":"a","ttl":"-1h"}`, http.StatusBadRequest},
		{"ttl over the maximum", "/api/v1/tokens", `{"identity":"a","ttl":"25h"}`, http.StatusBadRequest},
		{"join without name", "/api/v1/connectors/join-tokens", `{}`, http.StatusBadRequest},
		{"join unknown field", "/api/v1/connectors/join-tokens", `{"name":"dc1","x":1}`, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, call(t, e, "POST", tc.path, e.AdminToken, tc.body), tc.status)
		})
	}
	tokens, err := e.Store.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 {
		t.Errorf("tokens in store: got %d, want only the admin's", len(tokens))
	}
}

func TestConnectors(t *testing.T) {
	e := apitest.Start(t)
	r := call(t, e, "POST", "/api/v1/connectors/join-tokens", e.AdminToken, `{"name":"dc1","ttl":"30m"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("join token: got %d, want 201 (%s)", r.status, r.body)
	}
	jt := decode[api.JoinTokenResponse](t, r)
	got, err := e.Store.ConsumeJoinToken(context.Background(), auth.HashToken(jt.Token), time.Now())
	if err != nil || got.Connector != "dc1" {
		t.Fatalf("consume the join token: got %+v, %v; want one for dc1", got, err)
	}

	joined := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range []string{"dc1", "dc2"} {
		if err := e.Store.UpsertConnector(context.Background(), &store.Connector{Name: name, CertSerial: "1", JoinedAt: joined}); err != nil {
			t.Fatal(err)
		}
	}
	e.SetOnline("dc2", true)
	list := decode[[]api.ConnectorInfo](t, call(t, e, "GET", "/api/v1/connectors", e.AdminToken, ""))
	want := []api.ConnectorInfo{{Name: "dc1", JoinedAt: joined}, {Name: "dc2", Online: true, JoinedAt: joined}}
	if diff := cmp.Diff(want, list, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("connectors (-want +got):\n%s", diff)
	}
}

func TestUnknownRoute(t *testing.T) {
	e := apitest.Start(t)
	wantError(t, call(t, e, "GET", "/api/v1/nope", e.AdminToken, ""), http.StatusNotFound)
	wantError(t, call(t, e, "DELETE", "/api/v1/sessions", e.AdminToken, ""), http.StatusNotFound)
}

func TestInternalErrorsStayInternal(t *testing.T) {
	e := apitest.Start(t)
	e.Exec(t, `DROP TABLE sessions`)
	eb := wantError(t, call(t, e, "GET", "/api/v1/sessions", e.AdminToken, ""), http.StatusInternalServerError)
	if eb.Error != "internal error" {
		t.Errorf("error: got %q, want %q", eb.Error, "internal error")
	}
}
