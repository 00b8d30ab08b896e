package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestAuditVerify(t *testing.T) {
	e := apitest.Start(t)
	recordSample(t, e)
	admin := asUser(e, e.AdminToken)

	t.Run("intact", func(t *testing.T) {
		out := mustRun(t, admin, "audit", "verify", "s_alice")
		if want := "session s_alice: OK, 10 events, hash chain intact, signature valid\n"; out != want {
			t.Errorf("got %q, want %q", out, want)
		}
	})
	t.Run("open", func(t *testing.T) {
		out := mustRun(t, admin, "audit", "verify", "s_bob")
		if !strings.Contains(out, "OK") || !strings.Contains(out, "not signed yet") {
			t.Errorf("got %q, want OK and not signed yet", out)
		}
	})
	t.Run("all intact", func(t *testing.T) {
		golden(t, "audit-verify-all.txt", mustRun(t, admin, "audit", "verify"))
	})

	e.EditEvents(t, "s_alice", func(evs []store.Event) []store.Event {
		evs[5].Data = json.RawMessage(strings.Replace(string(evs[5].Data), "drop table", "select 1 from", 1))
		return evs
	})
	t.Run("tampered", func(t *testing.T) {
		wantErr(t, admin, "session s_alice: event 6: hash mismatch", "audit", "verify", "s_alice")
	})
	t.Run("tampered json", func(t *testing.T) {
		out, _, err := runCLI(t, admin, "audit", "verify", "s_alice", "--json")
		if err == nil {
			t.Fatal("succeeded, want an error")
		}
		var res api.VerifyResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatal(err)
		}
		if res.OK || res.FirstBadSeq != 6 {
			t.Errorf("got %+v, want not OK at event 6", res)
		}
	})
	t.Run("all with one tampered", func(t *testing.T) {
		out, _, err := runCLI(t, admin, "audit", "verify")
		if err == nil || !strings.Contains(err.Error(), "1 of 2 sessions failed") {
			t.Fatalf("got error %v, want 1 of 2 sessions failed", err)
		}
		golden(t, "audit-verify-all-tampered.txt", out)
	})
}
