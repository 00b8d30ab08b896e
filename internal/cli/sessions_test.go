package cli

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-dev/gatehouse/internal/api/apitest"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// recordSample records the sessions the command tests look at.
func recordSample(tb testing.TB, e *apitest.Env) {
	tb.Helper()
	e.Record(tb, apitest.Session{ID: "s_alice", Identity: "alice", Statements: []apitest.Statement{
		{Text: "select id, email\n  from customers\n where id = $1", Params: []string{"42"}, Tag: "SELECT 1", Rows: 1,
			Columns: []string{"id", "email"}, Sample: [][]any{{"42", "a***@example.com"}}},
		{Text: "update customers set email = 'x' where id = 7", Tag: "UPDATE 3", Rows: 3},
		{Text: "drop table customers", ErrCode: "42501", ErrMsg: "gatehouse: blocked by policy dev: schema changes go through migrations"},
		{Text: "select '\x1b[2Jhidden', null, 'long'", Tag: "SELECT 1", Rows: 1, Columns: []string{"?column?", "n\x1b[2J", "l"},
			Sample: [][]any{{"\x1b[2Jhidden", nil, strings.Repeat("x", 50)}}},
	}})
	e.Record(tb, apitest.Session{ID: "s_bob", Identity: "bob", Connection: "staging-db",
		Start: time.Date(2025, 1, 3, 9, 0, 0, 0, time.UTC), Open: true,
		Statements: []apitest.Statement{{Text: "select 1", Tag: "SELECT 1", Rows: 1}}})
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		tb.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestSessionsList(t *testing.T) {
	e := apitest.Start(t)
	recordSample(t, e)
	admin := asUser(e, e.AdminToken)
	alice := asUser(e, e.Token(t, "alice", auth.KindPerson))

	golden(t, "sessions-list.txt", mustRun(t, admin, "sessions", "list"))

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"admin", admin, nil, []string{"s_bob", "s_alice"}},
		{"identity", admin, []string{"--identity", "bob"}, []string{"s_bob"}},
		{"connection", admin, []string{"--connection", "prod-db"}, []string{"s_alice"}},
		{"status", admin, []string{"--status", "ended"}, []string{"s_alice"}},
		{"limit", admin, []string{"--limit", "1"}, []string{"s_bob"}},
		{"person sees own", alice, nil, []string{"s_alice"}},
		{"person asks for another", alice, []string{"--identity", "bob"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, tc.env, append([]string{"sessions", "list", "--json"}, tc.args...)...)
			var list []store.Session
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
			var ids []string
			for _, s := range list {
				ids = append(ids, s.ID)
			}
			if !cmp.Equal(ids, tc.want) {
				t.Errorf("got %v, want %v", ids, tc.want)
			}
		})
	}
}

func TestSessionsShowAndReplay(t *testing.T) {
	e := apitest.Start(t)
	recordSample(t, e)
	admin := asUser(e, e.AdminToken)
	tests := []struct {
		name, golden string
		env          map[string]string
		args         []string
	}{
		{"show", "sessions-show.txt", admin, []string{"sessions", "show", "s_alice"}},
		{"show open", "sessions-show-open.txt", admin, []string{"sessions", "show", "s_bob"}},
		{"replay", "sessions-replay.txt", admin, []string{"sessions", "replay", "s_alice"}},
		{"replay as owner", "sessions-replay.txt", asUser(e, e.Token(t, "alice", auth.KindPerson)), []string{"sessions", "replay", "s_alice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, tc.env, tc.args...)
			if strings.ContainsRune(out, 0x1b) {
				t.Errorf("output contains a raw escape character:\n%s", out)
			}
			golden(t, tc.golden, out)
		})
	}
	t.Run("other identity", func(t *testing.T) {
		wantErr(t, asUser(e, e.Token(t, "bob", auth.KindPerson)), `session "s_alice" not found`, "sessions", "replay", "s_alice")
	})
	t.Run("replay json", func(t *testing.T) {
		var steps []replayStep
		if err := json.Unmarshal([]byte(mustRun(t, admin, "sessions", "replay", "s_alice", "--json")), &steps); err != nil {
			t.Fatal(err)
		}
		if len(steps) != 4 || len(steps[2].Results) != 1 || steps[2].Results[0].Error == nil || steps[2].Results[0].Error.Code != "42501" {
			t.Errorf("got %+v, want 4 steps, the third failing with 42501", steps)
		}
	})
}

func TestSessionsExport(t *testing.T) {
	e := apitest.Start(t)
	recordSample(t, e)
	out := mustRun(t, asUser(e, e.AdminToken), "sessions", "export", "s_alice", "--format", "jsonl")
	var evs []recording.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev recording.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != 10 {
		t.Fatalf("got %d events, want 10", len(evs))
	}
	// An export verifies on its own: every byte that was hashed survived.
	if err := recording.Verify(evs); err != nil {
		t.Errorf("verify the export: %v", err)
	}
}

func TestReplaySteps(t *testing.T) {
	stmt := func(seq uint64, text string) store.Event {
		return store.Event{Seq: seq, Type: "statement", Data: json.RawMessage(`{"protocol":"simple","text":"` + text + `"}`)}
	}
	result := func(seq uint64, tag string, statement int) store.Event {
		d := `{"tag":"` + tag + `","rows":1`
		if statement > 0 {
			d += `,"statement":` + strconv.Itoa(statement)
		}
		return store.Event{Seq: seq, Type: "result", Data: json.RawMessage(d + `}`)}
	}
	tests := []struct {
		name string
		evs  []store.Event
		want map[string][]string // statement text -> result tags
	}{
		{
			name: "one at a time",
			evs:  []store.Event{stmt(1, "a"), result(2, "A", 0), stmt(3, "b"), result(4, "B", 0)},
			want: map[string][]string{"a": {"A"}, "b": {"B"}},
		},
		{
			name: "pipelined",
			evs:  []store.Event{stmt(1, "a"), stmt(2, "b"), stmt(3, "c"), result(4, "A", 0), result(5, "B", 0), result(6, "C", 0)},
			want: map[string][]string{"a": {"A"}, "b": {"B"}, "c": {"C"}},
		},
		{
			name: "pipelined, results interleaved with a new statement",
			evs:  []store.Event{stmt(1, "a"), stmt(2, "b"), result(3, "A", 0), stmt(4, "c"), result(5, "B", 0), result(6, "C", 0)},
			want: map[string][]string{"a": {"A"}, "b": {"B"}, "c": {"C"}},
		},
		{
			name: "several statements in one query",
			evs:  []store.Event{stmt(1, "a1;a2"), result(2, "A1", 0), result(3, "A2", 0), stmt(4, "b"), result(5, "B", 0)},
			want: map[string][]string{"a1;a2": {"A1", "A2"}, "b": {"B"}},
		},
		{
			name: "no result",
			evs:  []store.Event{stmt(1, "a"), result(2, "A", 0), stmt(3, "b")},
			want: map[string][]string{"a": {"A"}, "b": nil},
		},
		{
			name: "results name their statements",
			evs: []store.Event{stmt(1, "a1;a2"), stmt(2, "b"), stmt(3, "c"), result(4, "A1", 1), result(5, "A2", 1),
				result(6, "B", 2), stmt(7, "d"), result(8, "D", 4)},
			want: map[string][]string{"a1;a2": {"A1", "A2"}, "b": {"B"}, "c": nil, "d": {"D"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string][]string{}
			for _, st := range replaySteps(tc.evs) {
				var tags []string
				for _, r := range st.Results {
					tags = append(tags, r.Tag)
				}
				got[st.Statement.Text] = tags
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParamText(t *testing.T) {
	tests := []struct {
		name string
		p    recording.ParamData
		want string
	}{
		{"null", recording.ParamData{Null: true}, "NULL"},
		{"text", recording.ParamData{Text: "it's", Size: 4}, "'it''s'"},
		{"text with escape", recording.ParamData{Text: "a\x1bb", Size: 3}, `'a\x1bb'`},
		{"binary", recording.ParamData{Format: 1, Base64: "AAAAKg==", Size: 4}, "<binary 0000002a>"},
		{"long binary", recording.ParamData{Format: 1, Base64: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", Size: 36}, "<binary 36 bytes>"},
		{"truncated", recording.ParamData{Text: "abc", Truncated: true, Size: 9000}, "'abc'...(truncated, 9000 bytes)"},
		{"legacy data field", recording.ParamData{Data: json.RawMessage(`"42"`), Size: 2}, "'42'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := paramText(&tc.p); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
