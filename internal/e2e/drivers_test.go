package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

// TestDriversKeptRows runs testdata/drivers_rows.py (asyncpg, psycopg 3)
// through a gateway that masks and keeps rows: the engine's own Describe
// before each Execute must not disturb them, interleaved cursors included,
// and every kept row must sit under its own statement's columns, masked.
func TestDriversKeptRows(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3"
	if out, err := runCmd(t, python, []string{"-c", "import asyncpg, psycopg"}, cleanEnv(), ""); err != nil {
		pgtest.Missing(t, "asyncpg or psycopg (3) is not installed: %s", out)
	}
	db := pg.CreateDatabase(t)
	pg.Exec(t, db, maskSeed)
	cfg := upConfig(t, db)
	maskConfig(cfg)
	h := startGateway(t, cfg, true, db)
	host, port := h.pgHostPort(t)
	script, err := filepath.Abs("testdata/drivers_rows.py")
	if err != nil {
		t.Fatal(err)
	}
	dsn := strings.Replace(h.psqlConnString(t, connName, "unused", "require"), " application_name=unused", "", 1)
	out, err := runCmd(t, python, []string{script, dsn, host, port, h.db}, cleanEnv("PGPASSWORD="+h.ciToken(t)), t.TempDir())
	if err != nil || strings.TrimSpace(out) != "OK" {
		t.Fatalf("drivers_rows.py: %v\n%s", err, out)
	}
	for _, app := range []string{"asyncpg-rows", "psycopg3-rows"} {
		rec := waitRecording(t, h.g.Store(), app)
		var texts []string
		kept := 0
		for _, e := range rec.Events {
			for _, v := range maskRaw {
				if strings.Contains(string(e.Data), v) {
					t.Errorf("%s: %q in the recording: %s", app, v, e.Data)
				}
			}
			var d struct {
				Text      string   `json:"text"`
				Statement int      `json:"statement"`
				Columns   []string `json:"columns"`
			}
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			switch e.Type {
			case recording.TypeStatement:
				texts = append(texts, d.Text)
			case recording.TypeResult:
				if len(d.Columns) == 0 {
					continue
				}
				kept++
				text := texts[d.Statement-1]
				if strings.HasPrefix(text, "FETCH") {
					continue // the cursor's query names them
				}
				for _, c := range d.Columns {
					if !strings.Contains(text, c) {
						t.Errorf("%s: rows of %q kept under columns %v", app, text, d.Columns)
					}
				}
			}
		}
		if kept < 8 {
			t.Errorf("%s: %d results kept rows, want at least 8", app, kept)
		}
	}
}
