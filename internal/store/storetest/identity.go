package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func testIdentities(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	st := open(t)
	for i, who := range []string{"alice", "alice", "bob"} {
		tok := store.Token{ID: "t" + string(rune('1'+i)), Hash: []byte{byte(i)}, Identity: who, Kind: "person",
			IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
		if err := st.CreateToken(ctx, &tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeToken(ctx, "t2", base.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if list, err := st.ListIdentities(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListIdentities before: %v, %v", list, err)
	}
	revoked, err := st.DisableIdentity(ctx, "alice", "admin", "left the company", base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(revoked, []string{"t1"}) {
		t.Errorf("DisableIdentity revoked %v, want [t1] (t2 was revoked before)", revoked)
	}
	if tok, _ := st.GetToken(ctx, "t3"); !tok.RevokedAt.IsZero() {
		t.Error("another identity's token was revoked")
	}
	// No new token for a disabled identity, atomically with disabling.
	late := store.Token{ID: "t9", Hash: []byte{9}, Identity: "alice", Kind: "person", IssuedAt: base, ExpiresAt: base.Add(time.Hour)}
	if err := st.CreateToken(ctx, &late); !errors.Is(err, store.ErrDisabled) {
		t.Fatalf("CreateToken for a disabled identity: got %v, want ErrDisabled", err)
	}
	list, err := st.ListIdentities(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "alice" || list[0].DisabledBy != "admin" || !list[0].DisabledAt.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("ListIdentities: %+v, %v", list, err)
	}
	if err := st.EnableIdentity(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, &late); err != nil {
		t.Errorf("CreateToken after EnableIdentity: %v", err)
	}
	if err := st.EnableIdentity(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("enabling an enabled identity: got %v, want ErrNotFound", err)
	}
	if tok, _ := st.GetToken(ctx, "t1"); tok.RevokedAt.IsZero() {
		t.Error("enabling brought a revoked token back")
	}
}

func testAudit(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	st := open(t)
	evs := []store.AuditEvent{
		{Time: base, Type: store.AuditIssue, OK: true, Identity: "alice", Actor: "admin", TokenID: "t1"},
		{Time: base.Add(time.Second), Type: store.AuditLoginFailed, Source: "10.0.0.1:5000", Reason: "invalid token"},
		{Time: base.Add(2 * time.Second), Type: store.AuditRevoke, OK: true, Identity: "alice", Actor: "admin", TokenID: "t1"},
	}
	for i := range evs {
		if err := st.AppendAudit(ctx, &evs[i]); err != nil {
			t.Fatal(err)
		}
		if evs[i].ID == 0 || i > 0 && evs[i].ID <= evs[i-1].ID {
			t.Fatalf("IDs not increasing: %d after %d", evs[i].ID, evs[max(i-1, 0)].ID)
		}
	}
	all, err := st.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.AuditEvent{evs[2], evs[1], evs[0]}
	if d := Diff(want, all); d != "" {
		t.Errorf("ListAudit (-want +got):\n%s", d)
	}
	for _, tc := range []struct {
		f    store.AuditFilter
		want []store.AuditEvent
	}{
		{store.AuditFilter{Identity: "alice"}, []store.AuditEvent{evs[2], evs[0]}},
		{store.AuditFilter{Type: store.AuditLoginFailed}, []store.AuditEvent{evs[1]}},
		{store.AuditFilter{Limit: 1}, []store.AuditEvent{evs[2]}},
		{store.AuditFilter{Before: evs[2].ID, Limit: 1}, []store.AuditEvent{evs[1]}},
	} {
		got, err := st.ListAudit(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if d := Diff(tc.want, got); d != "" {
			t.Errorf("ListAudit(%+v) (-want +got):\n%s", tc.f, d)
		}
	}
}
