package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

// TestUpPsql runs psql through an `up` gateway: a multi-statement string,
// \copy both ways and an error that stops a script.
func TestUpPsql(t *testing.T) {
	t.Parallel()
	requireBinary(t, "psql")
	h := startUp(t, nil)
	tok := h.ciToken(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	const csv = "1,one\n2,\"two, with comma\"\n3,three\n"
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(dir, "out.csv")
	out, err := h.psql(t, tok, "psql-e2e", "-At",
		"-c", "CREATE TABLE ps_t (id int, v text); INSERT INTO ps_t VALUES (10, 'ten'), (11, 'eleven'); SELECT count(*) FROM ps_t;",
		"-c", fmt.Sprintf(`\copy ps_t FROM '%s' WITH (FORMAT csv)`, in),
		"-c", fmt.Sprintf(`\copy (SELECT * FROM ps_t WHERE id < 10 ORDER BY id) TO '%s' WITH (FORMAT csv)`, outFile),
		"-c", "SELECT string_agg(v, '|' ORDER BY id) FROM ps_t",
	)
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	want := "CREATE TABLE\nINSERT 0 2\n2\nCOPY 3\nCOPY 3\none|two, with comma|three|ten|eleven\n"
	if out != want {
		t.Errorf("psql output:\ngot  %q\nwant %q", out, want)
	}
	if b, err := os.ReadFile(outFile); err != nil || string(b) != csv {
		t.Errorf("\\copy to: got %q, %v; want %q", b, err, csv)
	}

	// A script stops at its first error (ON_ERROR_STOP) with exit status 3
	// and psql shows the server's error.
	script := filepath.Join(dir, "script.sql")
	if err := os.WriteFile(script, []byte("SELECT 'first';\nSELECT * FROM no_such_table;\nSELECT 'never';\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = h.psql(t, tok, "psql-e2e-err", "-At", "-f", script)
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("failing script: got %v, want exit status 3\n%s", err, out)
	}
	if !strings.Contains(out, "first") || !strings.Contains(out, `relation "no_such_table" does not exist`) || strings.Contains(out, "never") {
		t.Errorf("failing script output: %q", out)
	}

	rec := waitRecording(t, h.g.Store(), "psql-e2e")
	checkSealed(t, h, rec)
	stmts := statements(t, rec.Events)
	multi, _ := findStatement(stmts, 0, "CREATE TABLE ps_t (id int, v text); INSERT INTO ps_t VALUES (10, 'ten'), (11, 'eleven'); SELECT count(*) FROM ps_t;")
	if multi == nil {
		t.Fatalf("multi-statement string not recorded:\n%s", dumpStatements(stmts))
	}
	var tags []string
	for _, r := range multi.Results {
		tags = append(tags, r.Tag)
	}
	if strings.Join(tags, ",") != "CREATE TABLE,INSERT 0 2,SELECT 1" {
		t.Errorf("multi-statement results: got %q, want CREATE TABLE, INSERT 0 2, SELECT 1", tags)
	}
	copies := 0
	for _, s := range stmts {
		if strings.Contains(s.Text, "STDIN") || strings.Contains(s.Text, "STDOUT") {
			copies++
			if len(s.Results) != 1 || s.Results[0].Tag != "COPY 3" || s.Results[0].Rows != 3 {
				t.Errorf("%q: results %s", s.Text, dumpStatements([]*recStatement{s}))
			}
		}
	}
	if copies != 2 {
		t.Errorf("got %d COPY statements recorded, want 2:\n%s", copies, dumpStatements(stmts))
	}
}

func asExit(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

var pgbenchProcessed = regexp.MustCompile(`number of transactions actually processed: (\d+)`)

// TestUpPgbench runs pgbench through an `up` gateway: initialization (COPY)
// and select-only runs in each query mode and with a new connection per
// transaction.
func TestUpPgbench(t *testing.T) {
	t.Parallel()
	bin := requireBinary(t, "pgbench")
	h := startUp(t, nil)
	host, port := h.pgHostPort(t)
	env := cleanEnv("PGHOST="+host, "PGPORT="+port, "PGUSER="+connName, "PGDATABASE="+h.db,
		"PGPASSWORD="+h.ciToken(t), "PGSSLMODE=require", "PGCONNECT_TIMEOUT=30")
	if out, err := runCmd(t, bin, []string{"-i", "-s", "1", "-q"}, env, t.TempDir()); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	runs := []struct {
		name string
		args []string
	}{
		{"simple", []string{"-S", "-T", "2", "-M", "simple"}},
		{"extended", []string{"-S", "-T", "2", "-M", "extended"}},
		{"prepared", []string{"-S", "-t", "200", "-M", "prepared"}},
		{"connect per transaction", []string{"-S", "-t", "10", "-C"}},
		{"tpcb two clients", []string{"-t", "50", "-c", "2", "-M", "prepared"}},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			out, err := runCmd(t, bin, append(r.args, "-n"), env, t.TempDir())
			if err != nil {
				t.Fatalf("pgbench %v: %v\n%s", r.args, err, out)
			}
			m := pgbenchProcessed.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("pgbench %v: no transaction count in\n%s", r.args, out)
			}
			if n, _ := strconv.Atoi(m[1]); n == 0 {
				t.Errorf("pgbench %v: no transactions processed\n%s", r.args, out)
			}
			if strings.Contains(out, "number of failed transactions: ") && !strings.Contains(out, "number of failed transactions: 0 ") {
				t.Errorf("pgbench %v: failed transactions\n%s", r.args, out)
			}
		})
	}
}

// TestUpPsycopg2 runs testdata/psycopg2_smoke.py with Debian's python3.
func TestUpPsycopg2(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		pgtest.Missing(t, "/usr/bin/python3 is not installed")
	}
	if out, err := runCmd(t, python, []string{"-c", "import psycopg2"}, cleanEnv(), ""); err != nil {
		pgtest.Missing(t, "psycopg2 is not installed: %s", out)
	}
	h := startUp(t, nil)
	script, err := filepath.Abs("testdata/psycopg2_smoke.py")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, python, []string{script, h.psqlConnString(t, connName, "psycopg2-e2e", "require")},
		cleanEnv("PGPASSWORD="+h.ciToken(t)), t.TempDir())
	if err != nil || strings.TrimSpace(out) != "OK" {
		t.Fatalf("psycopg2 smoke: %v\n%s", err, out)
	}
	rec := waitRecording(t, h.g.Store(), "psycopg2-e2e")
	checkSealed(t, h, rec)
	stmts := statements(t, rec.Events)
	// psycopg2 interpolates parameters on the client and uses the simple
	// protocol, so the values appear in the recorded text.
	for _, text := range []string{
		"INSERT INTO py_t VALUES (1, 'O''Brien', 1.5)",
		"SELECT * FROM no_such_table_py",
	} {
		if s, _ := findStatement(stmts, 0, text); s == nil {
			t.Errorf("statement %q not recorded:\n%s", text, dumpStatements(stmts))
		}
	}
	errs := map[string]bool{}
	for _, s := range stmts {
		for _, r := range s.Results {
			if r.Error != nil {
				errs[r.Error.Code] = true
			}
		}
	}
	for _, code := range []string{"42P01", "25P02", "23505"} {
		if !errs[code] {
			t.Errorf("error %s not recorded; recorded:\n%s", code, dumpStatements(stmts))
		}
	}
}

// TestUpJDBC compiles testdata/Smoke.java against Debian's PostgreSQL JDBC
// driver and runs it through an `up` gateway.
func TestUpJDBC(t *testing.T) {
	t.Parallel()
	javac := requireBinary(t, "javac")
	java := requireBinary(t, "java")
	const jar = "/usr/share/java/postgresql.jar"
	if _, err := os.Stat(jar); err != nil {
		pgtest.Missing(t, "%s is not installed", jar)
	}
	src, err := filepath.Abs("testdata/Smoke.java")
	if err != nil {
		t.Fatal(err)
	}
	classes := t.TempDir()
	if out, err := runCmd(t, javac, []string{"-cp", jar, "-d", classes, src}, cleanEnv(), classes); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	h := startUp(t, nil)
	host, port := h.pgHostPort(t)
	url := fmt.Sprintf("jdbc:postgresql://%s:%s/%s?sslmode=require&ApplicationName=jdbc-e2e&assumeMinServerVersion=15&connectTimeout=30", host, port, h.db)
	out, err := runCmd(t, java, []string{"-cp", classes + string(os.PathListSeparator) + jar, "Smoke", url, connName, h.ciToken(t)}, cleanEnv(), classes)
	if err != nil || strings.TrimSpace(out) != "OK" {
		t.Fatalf("JDBC smoke: %v\n%s", err, out)
	}
	rec := waitRecording(t, h.g.Store(), "jdbc-e2e")
	checkSealed(t, h, rec)
	stmts := statements(t, rec.Events)
	inserts, named := 0, 0
	seen := map[string]bool{}
	for _, s := range stmts {
		if s.Text != "INSERT INTO j_t VALUES ($1, $2)" {
			continue
		}
		inserts++
		if s.Name != "" {
			named++
		}
		if s.Protocol != "extended" || len(s.Params) != 2 {
			t.Errorf("insert #%d: protocol %q with %d params", s.Seq, s.Protocol, len(s.Params))
			continue
		}
		seen[paramValue(t, s.Params[1])] = true
	}
	// 20 single inserts, 100 in the batch and the 3 the failing batch ran
	// before its error.
	if inserts < 120 {
		t.Errorf("recorded %d inserts, want at least 120:\n%s", inserts, dumpStatements(stmts))
	}
	if named == 0 {
		t.Errorf("no insert ran as a named server-side statement")
	}
	for _, v := range []string{"row 1", "row 20", "batch 100", "batch 199"} {
		if !seen[v] {
			t.Errorf("no insert recorded with parameter %q", v)
		}
	}
}
