package e2e

import (
	"strings"
	"testing"
)

// TestMaskingColumnNames: a column name comes from the statement's text (an
// alias may be a value), which the recording keeps masked; so must be the
// kept rows' column names and the header line of a CSV COPY under column
// rules.
func TestMaskingColumnNames(t *testing.T) {
	t.Parallel()
	db := pg.CreateDatabase(t)
	pg.Exec(t, db, maskSeed)
	cfg := upConfig(t, db)
	maskConfig(cfg)
	h := startGateway(t, cfg, true, db)
	tok := h.ciToken(t)
	const alias = `"4111-1111-1111-1111"`
	out, err := h.psql(t, tok, "colnames", "-A", "-c", "SELECT id, 1 AS "+alias+" FROM customers ORDER BY id",
		"-c", "COPY (SELECT id, ssn, 1 AS "+alias+" FROM public.customers ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)")
	if err != nil {
		t.Fatalf("psql: %v: %s", err, out)
	}
	if !strings.Contains(out, "1,\"[HASH:") || !strings.Contains(out, "id,ssn,[REDACTED:credit_card]") {
		t.Errorf("COPY under column rules: got %s", out)
	}
	rec := waitRecording(t, h.g.Store(), "colnames")
	kept := 0
	for _, e := range rec.Events {
		if strings.Contains(string(e.Data), `"sample"`) {
			kept++
		}
		for _, v := range maskRaw {
			if strings.Contains(string(e.Data), v) {
				t.Errorf("%q in the recording: %s", v, e.Data)
			}
		}
	}
	if kept != 2 {
		t.Errorf("%d results kept rows, want 2", kept)
	}
	replay := h.runCLI(t, h.adminToken(t), "sessions", "replay", rec.Session.ID)
	if replay.Code != 0 || strings.Contains(replay.Stdout, "4111-1111-1111-1111") || !strings.Contains(replay.Stdout, "[REDACTED:credit_card]") {
		t.Errorf("sessions replay: exit %d\n%s%s", replay.Code, replay.Stdout, replay.Stderr)
	}
}
