package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/mask"
)

const maskSeed = `
CREATE TABLE customers (id int PRIMARY KEY, name text, email text UNIQUE, ssn text, card text, profile jsonb, balance numeric);
INSERT INTO customers VALUES
	(1, 'Ada', 'ada.lovelace@example.com', '219-09-9999', '4111-1111-1111-1111', '{"backup_card": "5105 1051 0510 5100"}', 12.5),
	(2, 'Grace', 'grace.hopper@example.org', '078-05-1120', '378282246310005', '{"phone": "+44 20 7946 0958"}', 1e3);
CREATE VIEW support AS SELECT id, ssn AS tax_ref, email AS contact FROM customers;
`

// maskRaw are the seeded values that must never leave the connector.
var maskRaw = []string{
	"ada.lovelace", "grace.hopper", "219-09-9999", "078-05-1120", "4111-1111-1111-1111", "4111111111111111",
	"378282246310005", "5105 1051 0510 5100", "7946 0958",
}

func maskConfig(cfg *config.Config) {
	cfg.Masking = map[string]mask.Profile{
		"pii": {
			Columns: []mask.ColumnRule{{Match: "customers.ssn", With: "hash"}, {Match: "*.email", With: "partial"}},
			Detect:  []string{"credit_card", "email", "phone", "us_ssn"},
		},
	}
	cfg.Policies[0].Masking = []string{"pii"}
}

// TestMasking runs pgx (text and binary results), psql and COPY through
// the gateway with a masking profile, in up and split mode, and looks for
// the raw values in everything: what the clients received, the recording,
// the logs and the raw bytes of every data file.
func TestMasking(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"up", "split"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			db := pg.CreateDatabase(t)
			pg.Exec(t, db, maskSeed)
			var h *gw
			var connLogs *lockedBuffer
			dirs := []string{}
			if mode == "up" {
				cfg := upConfig(t, db)
				maskConfig(cfg)
				h = startGateway(t, cfg, true, db)
			} else {
				s := startSplit(t, db, []config.Connection{targetConn(connName, db)}, maskConfig)
				h, connLogs = s.gw, s.clogs
				dirs = append(dirs, s.ccfg.DataDir)
			}
			dirs = append(dirs, h.cfg.DataDir)
			tok := h.ciToken(t)
			ca := filepath.Join(h.cfg.DataDir, "pki", "ca.crt")
			received := &lockedBuffer{}
			ctx := ctxT(t)

			var hashes []string
			for _, m := range []struct {
				name string
				mode pgx.QueryExecMode
			}{{"text", pgx.QueryExecModeSimpleProtocol}, {"binary", pgx.QueryExecModeCacheStatement}} {
				cc := h.pgxConfig(t, connName, tok, "masking-"+m.name)
				cc.TLSConfig, cc.Fallbacks = nil, nil
				cc.DialFunc = captureDial(ca, received)
				cc.DefaultQueryExecMode = m.mode
				c := connect(t, cc)
				rows, err := c.Query(ctx, "SELECT id, name, email, ssn, card, profile, balance FROM customers ORDER BY id")
				if err != nil {
					t.Fatal(err)
				}
				type row struct {
					id          int
					name, email string
					ssn, card   string
					profile     map[string]any
					balance     float64
				}
				var got []row
				for rows.Next() {
					var r row
					if err := rows.Scan(&r.id, &r.name, &r.email, &r.ssn, &r.card, &r.profile, &r.balance); err != nil {
						t.Fatal(err)
					}
					got = append(got, r)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				if len(got) != 2 || got[0].name != "Ada" || got[1].name != "Grace" || got[0].balance != 12.5 || got[1].balance != 1000 {
					t.Fatalf("%s: unmasked columns changed: %+v", m.name, got)
				}
				if got[0].email != "a***@example.com" || got[1].email != "g***@example.org" {
					t.Errorf("%s: emails: got %q, %q", m.name, got[0].email, got[1].email)
				}
				if !strings.HasPrefix(got[0].ssn, "[HASH:") || got[0].ssn == got[1].ssn {
					t.Errorf("%s: hashed SSNs: got %q, %q", m.name, got[0].ssn, got[1].ssn)
				}
				hashes = append(hashes, got[0].ssn)
				if got[0].card != "[REDACTED:credit_card]" || got[1].card != "[REDACTED:credit_card]" {
					t.Errorf("%s: cards: got %q, %q", m.name, got[0].card, got[1].card)
				}
				if got[0].profile["backup_card"] != "[REDACTED:credit_card]" || got[1].profile["phone"] != "[REDACTED:phone]" {
					t.Errorf("%s: jsonb: got %v, %v", m.name, got[0].profile, got[1].profile)
				}
				var ref, contact string
				if err := c.QueryRow(ctx, "SELECT tax_ref, contact FROM support WHERE id = 1").Scan(&ref, &contact); err != nil {
					t.Fatal(err)
				}
				if ref != got[0].ssn || contact != "a***@example.com" {
					t.Errorf("%s: through a view: got %q, %q", m.name, ref, contact)
				}
				c.Close(ctx)
			}
			if hashes[0] != hashes[1] {
				t.Errorf("the hash of one value differs between sessions: %q, %q", hashes[0], hashes[1])
			}

			out, err := h.psql(t, tok, "masking-psql", "-A", "-t", "-c", "SELECT name, email, card FROM customers ORDER BY id")
			if err != nil {
				t.Fatalf("psql: %v: %s", err, out)
			}
			if want := "Ada|a***@example.com|[REDACTED:credit_card]\nGrace|g***@example.org|[REDACTED:credit_card]\n"; out != want {
				t.Errorf("psql: got %q, want %q", out, want)
			}
			received.Write([]byte(out))
			// COPY TO goes field by field, in text and CSV.
			out, err = h.psql(t, tok, "masking-copy", "-c", `\copy customers (id, ssn, email, card) to stdout`,
				"-c", `\copy customers (name, email, profile) to stdout with (format csv, header)`)
			if err != nil {
				t.Fatalf("psql \\copy: %v: %s", err, out)
			}
			lines := strings.Split(out, "\n")
			if len(lines) != 6 || !strings.HasPrefix(lines[0], "1\t[HASH:") || !strings.HasSuffix(lines[0], "\ta***@example.com\t[REDACTED:credit_card]") ||
				lines[2] != "name,email,profile" || lines[3] != `Ada,"a***@example.com","{""backup_card"": ""[REDACTED:credit_card]""}"` {
				t.Errorf("\\copy: got %q", out)
			}
			received.Write([]byte(out))
			// A COPY of a query: its columns are named by describing the
			// query, through views too; a computed column gets detectors.
			out, err = h.psql(t, tok, "masking-copy-query", "-c",
				`\copy (SELECT s.id, s.tax_ref, upper(c.name) AS n, c.email, c.card FROM support s JOIN customers c USING (id) ORDER BY 1) to stdout with (format csv)`)
			lines = strings.Split(out, "\n")
			if err != nil || len(lines) != 3 || !strings.HasPrefix(lines[0], `1,"[HASH:`) ||
				!strings.HasSuffix(lines[0], `",ADA,"a***@example.com","[REDACTED:credit_card]"`) {
				t.Errorf("\\copy of a query under column rules: got %v: %q", err, out)
			}
			received.Write([]byte(out))

			// psql reads large objects with the fast-path function call.
			var loid uint32
			direct, err := pgx.Connect(ctx, pg.DSN(db))
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close(ctx)
			if err := direct.QueryRow(ctx, "SELECT lo_from_bytea(0, convert_to('card 4111-1111-1111-1111 on file', 'UTF8'))").Scan(&loid); err != nil {
				t.Fatal(err)
			}
			exported := filepath.Join(t.TempDir(), "lo.txt")
			out, err = h.psql(t, tok, "masking-lo", "-c", fmt.Sprintf(`\lo_export %d '%s'`, loid, exported))
			if err != nil {
				t.Fatalf("psql \\lo_export: %v: %s", err, out)
			}
			if b, err := os.ReadFile(exported); err != nil || string(b) != "card [REDACTED:credit_card] on file" {
				t.Errorf("large object read through the gateway: got %q, %v", b, err)
			}

			rec := waitRecording(t, h.g.Store(), "masking-text")
			end := rec.Events[len(rec.Events)-1]
			var summary struct {
				Masked []struct {
					Rule   string
					Column bool
					Count  int
				}
			}
			if err := json.Unmarshal(end.Data, &summary); err != nil {
				t.Fatal(err)
			}
			fired := map[string]int{}
			for _, m := range summary.Masked {
				fired[m.Rule] = m.Count
			}
			if fired["customers.ssn"] != 3 || fired["*.email"] != 3 || fired["credit_card"] != 3 || fired["phone"] != 1 {
				t.Errorf("session end masked: got %s", end.Data)
			}
			replay := h.runCLI(t, h.adminToken(t), "sessions", "replay", rec.Session.ID)
			if replay.Code != 0 || !strings.Contains(replay.Stdout, "masked: ") || !strings.Contains(replay.Stdout, "customers.ssn x") ||
				!strings.Contains(replay.Stdout, "[REDACTED") {
				t.Errorf("sessions replay does not show the masking: exit %d\n%s%s", replay.Code, replay.Stdout, replay.Stderr)
			}
			received.Write([]byte(replay.Stdout))
			waitRecording(t, h.g.Store(), "masking-psql")
			waitRecording(t, h.g.Store(), "masking-copy")

			noRaw := func(where string, data []byte) {
				t.Helper()
				for _, v := range maskRaw {
					if bytes.Contains(data, []byte(v)) {
						t.Errorf("%q appears in %s", v, where)
					}
				}
			}
			noRaw("what the clients received", received.Bytes())
			if !bytes.Contains(received.Bytes(), []byte("Grace")) {
				t.Error("the capture lacks the unmasked names")
			}
			noRaw("the gateway's log", h.logs.Bytes())
			if connLogs != nil {
				noRaw("the connector's log", connLogs.Bytes())
			}
			for _, r := range []string{"masking-text", "masking-binary", "masking-psql", "masking-copy"} {
				for _, e := range waitRecording(t, h.g.Store(), r).Events {
					noRaw("the recording of "+r, e.Data)
				}
			}
			for _, dir := range dirs {
				for path, b := range readTree(t, dir) {
					noRaw(path, b)
				}
			}
		})
	}
}

// TestMaskingCopySearchPath: the connector's catalog connection cannot see
// a session's search_path, so a COPY of an unqualified table name is
// masked as any table of that name would be, or refused when they differ.
func TestMaskingCopySearchPath(t *testing.T) {
	t.Parallel()
	db := pg.CreateDatabase(t)
	pg.Exec(t, db, maskSeed+`
		CREATE SCHEMA postgres; -- first on the catalog connection's search path ($user)
		CREATE TABLE postgres.customers (id int, a text, b text, c text, d text, e text, f numeric);`)
	cfg := upConfig(t, db)
	maskConfig(cfg)
	h := startGateway(t, cfg, true, db)
	tok := h.ciToken(t)
	out, err := h.psql(t, tok, "copy-search-path", "-c", "SET search_path = public", "-c", `\copy customers to stdout`)
	if err == nil || !strings.Contains(out, "cannot be masked") {
		t.Errorf("COPY of public.customers while postgres.customers exists: got %v: %s", err, out)
	}
	out, err = h.psql(t, tok, "copy-search-path-list", "-c", "SET search_path = public", "-c", `\copy customers (id, ssn) to stdout`)
	if err != nil || !strings.Contains(out, "[HASH:") {
		t.Errorf("COPY with a column list: got %v: %s", err, out)
	}
	received := out
	// A COPY of a query: a table name that more than one schema holds is
	// refused, a qualified one is masked.
	out, err = h.psql(t, tok, "copy-search-path-query", "-c", "SET search_path = public", "-c", `\copy (SELECT id, ssn FROM customers) to stdout`)
	if err == nil || !strings.Contains(out, "cannot be masked") {
		t.Errorf("COPY of a query naming customers while postgres.customers exists: got %v: %s", err, out)
	}
	received += out
	out, err = h.psql(t, tok, "copy-search-path-query2", "-c", `\copy (SELECT id, ssn FROM public.customers) to stdout`)
	if err != nil || !strings.Contains(out, "[HASH:") {
		t.Errorf("COPY of a query naming public.customers: got %v: %s", err, out)
	}
	out = received + out
	for _, v := range maskRaw {
		if strings.Contains(out, v) {
			t.Errorf("%q reached the client", v)
		}
	}
}
