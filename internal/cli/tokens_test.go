package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestTokens(t *testing.T) {
	e := apitest.Start(t)
	admin := asUser(e, e.AdminToken)

	out := mustRun(t, admin, "tokens", "issue", "--identity", "ci:deploy", "--groups", "ci-deployers,ops", "--ttl", "15m")
	tok := strings.TrimSuffix(out, "\n")
	if !auth.WellFormed(tok) || strings.Count(out, "\n") != 1 {
		t.Fatalf("issue printed %q, want only a token", out)
	}
	p, err := e.Issuer.Authenticate(context.Background(), tok)
	if err != nil {
		t.Fatalf("the issued token does not authenticate: %v", err)
	}
	if p.Identity != "ci:deploy" || strings.Join(p.Groups, ",") != "ci-deployers,ops" {
		t.Errorf("principal: got %+v, want ci:deploy in ci-deployers,ops", p)
	}

	// A ttl over auth.max_token_ttl (24h by default) is refused, on one
	// line that says the maximum.
	wantErr(t, admin, "ttl 720h is longer than the maximum of 24h", "tokens", "issue", "--identity", "ci:deploy", "--ttl", "720h")

	var issued api.IssuedToken
	if err := json.Unmarshal([]byte(mustRun(t, admin, "tokens", "issue", "--identity", "bob", "--json")), &issued); err != nil {
		t.Fatal(err)
	}
	if !auth.WellFormed(issued.Token) || issued.Identity != "bob" {
		t.Errorf("issue --json: got %+v", issued)
	}

	list := mustRun(t, admin, "tokens", "list")
	for _, want := range []string{p.TokenID, "ci:deploy", "ci-deployers,ops", "active", issued.ID} {
		if !strings.Contains(list, want) {
			t.Errorf("tokens list does not show %q:\n%s", want, list)
		}
	}
	jsonList := mustRun(t, admin, "tokens", "list", "--json")
	for _, secret := range []string{tok, issued.Token, e.AdminToken} {
		if strings.Contains(list, secret) || strings.Contains(jsonList, secret) {
			t.Errorf("tokens list shows a secret")
		}
	}

	if out := mustRun(t, admin, "tokens", "revoke", p.TokenID); out != "revoked "+p.TokenID+"\n" {
		t.Errorf("revoke printed %q", out)
	}
	wantErr(t, asUser(e, tok), "not authenticated", "sessions", "list")
	if list := mustRun(t, admin, "tokens", "list"); !strings.Contains(list, "revoked") {
		t.Errorf("tokens list after revoke:\n%s", list)
	}
}

func TestConnectors(t *testing.T) {
	e := apitest.Start(t)
	admin := asUser(e, e.AdminToken)

	out := mustRun(t, admin, "connectors", "join-token", "--name", "dc1", "--ttl", "10m")
	jt := strings.TrimSuffix(out, "\n")
	if jt == "" || strings.ContainsAny(jt, " \n\t") {
		t.Fatalf("join-token printed %q, want only a token", out)
	}
	got, err := e.Store.ConsumeJoinToken(context.Background(), auth.HashToken(jt), time.Now())
	if err != nil || got.Connector != "dc1" {
		t.Fatalf("consume: got %+v, %v; want a join token for dc1", got, err)
	}

	joinSample(t, e)
	golden(t, "connectors-list.txt", mustRun(t, admin, "connectors", "list"))
	var list []api.ConnectorInfo
	if err := json.Unmarshal([]byte(mustRun(t, admin, "connectors", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Online || !list[1].Online {
		t.Errorf("got %+v, want dc1 offline and dc2 online", list)
	}
	wantErr(t, asUser(e, e.Token(t, "alice", auth.KindPerson)), "needs an admin token", "connectors", "join-token", "--name", "dc2")
}

// joinSample enrolls two connectors, dc2 online.
func joinSample(tb testing.TB, e *apitest.Env) {
	tb.Helper()
	joined := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{"dc1", "dc2"} {
		if err := e.Store.UpsertConnector(context.Background(), &store.Connector{Name: name, CertSerial: "1", JoinedAt: joined}); err != nil {
			tb.Fatal(err)
		}
	}
	if err := e.Store.TouchConnector(context.Background(), "dc2", joined.Add(time.Hour)); err != nil {
		tb.Fatal(err)
	}
	e.SetOnline("dc2", true)
}
