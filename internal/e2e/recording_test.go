package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestUpRecording runs a known session through pgx and checks what the
// gateway's store holds for it: the session row, every statement with its
// parameters and results, the hash chain and the signature, and what the
// CLI shows of it.
func TestUpRecording(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	c := connect(t, h.pgxConfig(t, connName, h.ciToken(t), "rec"))
	ctx := ctxT(t)
	mustExec := func(sql string, args ...any) {
		t.Helper()
		if _, err := c.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	mustExec("CREATE TABLE rec_t (id int, v text)")
	mustExec("INSERT INTO rec_t VALUES (1, 'a'); INSERT INTO rec_t VALUES (2, 'b'), (3, 'c')")
	mustExec("INSERT INTO rec_t VALUES ($1, $2)", 4, "param-d")
	rows, err := c.Query(ctx, "SELECT id, v FROM rec_t WHERE id >= $1 ORDER BY id", 2)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (int32, error) {
		var id int32
		var v string
		return id, r.Scan(&id, &v)
	})
	if err != nil || !slices.Equal(ids, []int32{2, 3, 4}) {
		t.Fatalf("select: got %v, %v; want [2 3 4]", ids, err)
	}
	if _, err := c.Exec(ctx, "SELECT nope FROM rec_t"); pgCode(err) != "42703" {
		t.Fatalf("bad select: got %v, want 42703", err)
	}
	mustExec("UPDATE rec_t SET v = upper(v)")
	var null *string
	if err := c.QueryRow(ctx, "SELECT $1::text", nil).Scan(&null); err != nil || null != nil {
		t.Fatalf("select null: got %v, %v", null, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	rec := waitRecording(t, h.g.Store(), "rec")
	sess := rec.Session
	if sess.Identity != "ci-bot" || !slices.Equal(sess.Groups, []string{"ci"}) || sess.Connection != connName ||
		sess.Database != h.db || sess.Protocol != "postgres" || sess.Policy != "ci" || sess.Status != store.StatusEnded {
		t.Errorf("session row: got %+v", sess)
	}
	checkSealed(t, h, rec)

	var start struct {
		Identity   string   `json:"identity"`
		Groups     []string `json:"groups"`
		Connection string   `json:"connection"`
		Database   string   `json:"database"`
		Policy     string   `json:"policy"`
		Connector  string   `json:"connector"`
	}
	if err := json.Unmarshal(rec.Events[0].Data, &start); err != nil {
		t.Fatalf("decode session.start: %v", err)
	}
	if start.Identity != "ci-bot" || !slices.Equal(start.Groups, []string{"ci"}) || start.Connection != connName ||
		start.Database != h.db || start.Policy != "ci" || start.Connector != "embedded" {
		t.Errorf("session.start: got %s", rec.Events[0].Data)
	}

	stmts := statements(t, rec.Events)
	type want struct {
		protocol string
		text     string
		params   []string // decoded text of each parameter; "<null>" for NULL
		tags     []string
		rows     []int64
		errCode  string
	}
	wants := []want{
		{protocol: "simple", text: "CREATE TABLE rec_t (id int, v text)", tags: []string{"CREATE TABLE"}, rows: []int64{0}},
		{protocol: "simple", text: "INSERT INTO rec_t VALUES (1, 'a'); INSERT INTO rec_t VALUES (2, 'b'), (3, 'c')",
			tags: []string{"INSERT 0 1", "INSERT 0 2"}, rows: []int64{1, 2}},
		{protocol: "extended", text: "INSERT INTO rec_t VALUES ($1, $2)", params: []string{"4", "param-d"}, tags: []string{"INSERT 0 1"}, rows: []int64{1}},
		{protocol: "extended", text: "SELECT id, v FROM rec_t WHERE id >= $1 ORDER BY id", params: []string{"2"}, tags: []string{"SELECT 3"}, rows: []int64{3}},
		{protocol: "simple", text: "SELECT nope FROM rec_t", errCode: "42703"},
		{protocol: "simple", text: "UPDATE rec_t SET v = upper(v)", tags: []string{"UPDATE 4"}, rows: []int64{4}},
		{protocol: "extended", text: "SELECT $1::text", params: []string{"<null>"}, tags: []string{"SELECT 1"}, rows: []int64{1}},
	}
	from := 0
	for _, w := range wants {
		s, i := findStatement(stmts, from, w.text)
		if s == nil {
			t.Errorf("statement %q not recorded (after #%d); recorded:\n%s", w.text, from, dumpStatements(stmts))
			continue
		}
		from = i + 1
		if s.Protocol != w.protocol {
			t.Errorf("%q: protocol %q, want %q", w.text, s.Protocol, w.protocol)
		}
		var params []string
		for _, p := range s.Params {
			params = append(params, paramValue(t, p))
		}
		if !slices.Equal(params, w.params) {
			t.Errorf("%q: params %q, want %q", w.text, params, w.params)
		}
		if w.errCode != "" {
			if len(s.Results) != 1 || s.Results[0].Error == nil || s.Results[0].Error.Code != w.errCode ||
				!strings.Contains(s.Results[0].Error.Message, `column "nope" does not exist`) {
				t.Errorf("%q: results %s, want one error %s", w.text, dumpStatements([]*recStatement{s}), w.errCode)
			}
			continue
		}
		var tags []string
		var nrows []int64
		for _, r := range s.Results {
			tags = append(tags, r.Tag)
			nrows = append(nrows, r.Rows)
			if r.Error != nil {
				t.Errorf("%q: unexpected error %+v", w.text, *r.Error)
			}
		}
		if !slices.Equal(tags, w.tags) || !slices.Equal(nrows, w.rows) {
			t.Errorf("%q: results %q rows %v, want %q rows %v", w.text, tags, nrows, w.tags, w.rows)
		}
	}
	var end struct {
		Reason     string `json:"reason"`
		Statements int64  `json:"statements"`
	}
	if err := json.Unmarshal(rec.Events[len(rec.Events)-1].Data, &end); err != nil {
		t.Fatalf("decode session.end: %v", err)
	}
	if end.Statements != int64(len(stmts)) || sess.Statements != int64(len(stmts)) {
		t.Errorf("statement counts: session.end says %d, session row %d, recorded %d", end.Statements, sess.Statements, len(stmts))
	}

	admin := h.adminToken(t)
	t.Run("cli sessions list", func(t *testing.T) {
		res := h.runCLI(t, admin, "sessions", "list")
		if res.Code != 0 {
			t.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
		line := lineWith(res.Stdout, sess.ID)
		for _, f := range []string{"ci-bot", connName, "postgres", "ended", fmt.Sprint(sess.Statements)} {
			if !slices.Contains(strings.Fields(line), f) {
				t.Errorf("sessions list: the line of %s lacks %q:\n%s", sess.ID, f, res.Stdout)
			}
		}
		res = h.runCLI(t, admin, "sessions", "list", "--json")
		var list []store.Session
		if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil || res.Code != 0 {
			t.Fatalf("sessions list --json: exit %d, %v:\n%s%s", res.Code, err, res.Stdout, res.Stderr)
		}
		if !slices.ContainsFunc(list, func(s store.Session) bool { return s.ID == sess.ID && s.Identity == "ci-bot" }) {
			t.Errorf("sessions list --json lacks %s: %s", sess.ID, res.Stdout)
		}
	})
	t.Run("cli sessions show", func(t *testing.T) {
		res := h.runCLI(t, admin, "sessions", "show", sess.ID)
		if res.Code != 0 {
			t.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
		for _, s := range []string{"ci-bot", h.db, "CREATE TABLE rec_t (id int, v text)", "SELECT nope FROM rec_t",
			"42703", "UPDATE 4", "SELECT 3, 3 rows", "session.end"} {
			if !strings.Contains(res.Stdout, s) {
				t.Errorf("sessions show lacks %q:\n%s", s, res.Stdout)
			}
		}
	})
	t.Run("cli sessions replay", func(t *testing.T) {
		res := h.runCLI(t, admin, "sessions", "replay", sess.ID)
		if res.Code != 0 {
			t.Fatalf("exit %d: %s", res.Code, res.Stderr)
		}
		for _, s := range []string{
			"INSERT INTO rec_t VALUES ($1, $2)",
			"=> INSERT 0 1, 1 row",
			"=> SELECT 3, 3 rows",
			// The rows the client received, pgx's binary int4 as text.
			" id | v\n", " 2  | b\n", " 4  | param-d\n",
			"=> UPDATE 4, 4 rows",
			// Both results of the two-statement string.
			"=> INSERT 0 2, 2 rows",
			// The extended statement's parameters as the client sent them.
			"'param-d'",
			"$1=NULL",
		} {
			if !strings.Contains(res.Stdout, s) {
				t.Errorf("sessions replay lacks %q:\n%s", s, res.Stdout)
			}
		}
	})
	t.Run("cli audit verify", func(t *testing.T) {
		res := h.runCLI(t, admin, "audit", "verify", sess.ID)
		if res.Code != 0 {
			t.Fatalf("exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
		}
		if !strings.Contains(res.Stdout, "OK") || !strings.Contains(res.Stdout, "hash chain intact") || !strings.Contains(res.Stdout, "signature valid") {
			t.Errorf("audit verify: got %q", res.Stdout)
		}
		res = h.runCLI(t, admin, "audit", "verify")
		if res.Code != 0 || !strings.Contains(lineWith(res.Stdout, sess.ID), "ok") {
			t.Errorf("audit verify (all): exit %d:\n%s%s", res.Code, res.Stdout, res.Stderr)
		}
	})
	t.Run("cli with a client token sees only its own sessions", func(t *testing.T) {
		other := h.token(t, "someone-else", "ci")
		res := h.runCLI(t, other, "sessions", "show", sess.ID)
		if res.Code != 1 || res.Stdout != "" {
			t.Errorf("another identity's session: exit %d, stdout %q; want exit 1 and nothing on stdout", res.Code, res.Stdout)
		}
	})
}

// TestUpRecordingPipelineReplay records a pipelined batch, where the
// client sends every statement before the first result comes back, and
// checks that replay still puts each result next to its statement.
func TestUpRecordingPipelineReplay(t *testing.T) {
	t.Parallel()
	h := startUp(t, nil)
	c := connect(t, h.pgxConfig(t, connName, h.ciToken(t), "pipeline"))
	ctx := ctxT(t)
	if _, err := c.Exec(ctx, "CREATE TABLE pipe_t (id int)"); err != nil {
		t.Fatalf("create: %v", err)
	}
	b := &pgx.Batch{}
	for i := range 5 {
		b.Queue(fmt.Sprintf("INSERT INTO pipe_t SELECT generate_series(1, %d)", i+1))
	}
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		t.Fatalf("batch: %v", err)
	}
	c.Close(ctx)
	rec := waitRecording(t, h.g.Store(), "pipeline")
	checkSealed(t, h, rec)
	stmts := statements(t, rec.Events)
	for i := range 5 {
		text := fmt.Sprintf("INSERT INTO pipe_t SELECT generate_series(1, %d)", i+1)
		s, _ := findStatement(stmts, 0, text)
		if s == nil || len(s.Results) != 1 || s.Results[0].Tag != fmt.Sprintf("INSERT 0 %d", i+1) {
			t.Errorf("%q: not recorded with its own result:\n%s", text, dumpStatements(stmts))
		}
	}
	res := h.runCLI(t, h.adminToken(t), "sessions", "replay", rec.Session.ID)
	if res.Code != 0 {
		t.Fatalf("replay: exit %d: %s", res.Code, res.Stderr)
	}
	for i := range 5 {
		stmt := fmt.Sprintf("INSERT INTO pipe_t SELECT generate_series(1, %d)", i+1)
		result := fmt.Sprintf("=> INSERT 0 %d, %d row", i+1, i+1)
		idx := strings.Index(res.Stdout, stmt)
		if idx < 0 {
			t.Errorf("replay lacks %q", stmt)
			continue
		}
		next := res.Stdout[idx+len(stmt):]
		if j := strings.Index(next, "\n["); j >= 0 {
			next = next[:j]
		}
		if !strings.Contains(next, result) {
			t.Errorf("replay: %q is followed by %q, want %q", stmt, strings.TrimSpace(next), result)
		}
	}
	if t.Failed() {
		t.Logf("replay:\n%s", res.Stdout)
	}
}

// paramValue decodes a recorded parameter to text: text-format values as
// they are, binary int4/int8 values as numbers.
func paramValue(t testing.TB, p recParam) string {
	t.Helper()
	if p.Null {
		return "<null>"
	}
	if p.Format == 0 {
		return p.Text
	}
	b, err := base64.StdEncoding.DecodeString(p.Base64)
	if err != nil {
		t.Errorf("param %+v: %v", p, err)
		return ""
	}
	var n int64
	switch len(b) {
	case 2, 4, 8:
		for _, x := range b {
			n = n<<8 | int64(x)
		}
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%x", b)
}

// lineWith returns the first line of s that contains sub.
func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}
