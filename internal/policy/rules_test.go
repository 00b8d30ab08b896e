package policy

import (
	"errors"
	"testing"
	"time"
)

func mustCompile(t *testing.T, rules []Rule) *RuleSet {
	t.Helper()
	rs, err := CompileRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// designRules are the rules of DESIGN.md's example policy.
var designRules = []Rule{
	{Match: Match{Statement: []string{"drop", "truncate", "alter", "create", "grant", "revoke"}}, Action: ActionDeny, Reason: "schema changes go through migrations"},
	{Match: Match{Statement: []string{"update", "delete"}, MissingWhere: true}, Action: ActionDeny},
	{Match: Match{Function: []string{"pg_read_file", "pg_read_binary_file", "lo_import", "lo_export", "dblink_exec"}}, Action: ActionDeny},
	{Match: Match{Statement: []string{"insert", "update", "delete", "merge", "copy_from"}}, Action: ActionReview, Approvers: []string{"group:dba"}},
}

func TestDecide(t *testing.T) {
	rs := mustCompile(t, append(designRules,
		Rule{Match: Match{Table: []string{"audit.*"}}, Action: ActionLog},
		Rule{Match: Match{Regex: `(?i)pg_sleep`}, Action: ActionDeny, Reason: "no sleeping"},
	))
	st := func(kinds ...string) Statement { return Statement{Kinds: kinds} }
	tests := []struct {
		name   string
		q      Query
		action string
		rule   int
	}{
		{"plain select", Query{Statements: []Statement{st("select")}}, ActionAllow, -1},
		{"drop", Query{Statements: []Statement{st("drop")}}, ActionDeny, 0},
		{"delete in a cte", Query{Statements: []Statement{st("select", "delete")}}, ActionReview, 3},
		{"delete without where", Query{Statements: []Statement{{Kinds: []string{"delete"}, MissingWhere: true}}}, ActionDeny, 1},
		{"qualified function", Query{Statements: []Statement{{Kinds: []string{"select"}, Functions: []string{"pg_catalog.pg_read_file"}}}}, ActionDeny, 2},
		{"other function", Query{Statements: []Statement{{Kinds: []string{"select"}, Functions: []string{"now"}}}}, ActionAllow, -1},
		{"multi statement takes the worst", Query{Statements: []Statement{st("select"), st("insert"), st("truncate"), st("select")}}, ActionDeny, 0},
		{"review beats log", Query{Statements: []Statement{{Kinds: []string{"select"}, Tables: []Table{{Schema: "audit", Name: "x"}}}, st("insert")}}, ActionReview, 3},
		{"schema wildcard", Query{Statements: []Statement{{Kinds: []string{"select"}, Tables: []Table{{Schema: "audit", Name: "log"}}}}}, ActionLog, 4},
		{"unqualified is public", Query{Statements: []Statement{{Kinds: []string{"select"}, Tables: []Table{{Name: "log"}}}}}, ActionAllow, -1},
		{"regex on normalized text", Query{Statements: []Statement{st("select")}, Normalized: "SELECT pg_sleep($1)"}, ActionDeny, 5},
		{"parse error fails closed", Query{ParseError: errors.New("syntax error")}, ActionDeny, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := rs.Decide(&tt.q)
			if v.Action != tt.action || v.Rule != tt.rule {
				t.Errorf("got %s by rule %d, want %s by rule %d", v.Action, v.Rule, tt.action, tt.rule)
			}
		})
	}
	if v := rs.Decide(&Query{Statements: []Statement{st("drop")}}); v.Reason != "schema changes go through migrations" {
		t.Errorf("got reason %q", v.Reason)
	}
	if v := rs.Decide(&Query{Statements: []Statement{st("insert")}}); v.MinApprovals != 1 || v.Timeout != 10*time.Minute {
		t.Errorf("got review defaults %d %v, want 1 10m", v.MinApprovals, v.Timeout)
	}
}

func TestParseErrorWithoutDenyRulesIsLogged(t *testing.T) {
	rs := mustCompile(t, []Rule{{Match: Match{Statement: []string{"select"}}, Action: ActionLog}})
	if v := rs.Decide(&Query{ParseError: errors.New("x")}); v.Action != ActionLog {
		t.Errorf("got %s, want log", v.Action)
	}
	var none *RuleSet
	if v := none.Decide(&Query{ParseError: errors.New("x")}); v.Action != ActionAllow {
		t.Errorf("no rules: got %s, want allow", v.Action)
	}
}

func TestCompileRulesErrors(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		field string
	}{
		{"no action", Rule{}, "action"},
		{"bad action", Rule{Action: "block"}, "action"},
		{"review without approvers", Rule{Action: ActionReview}, "approvers"},
		{"bad approver", Rule{Action: ActionReview, Approvers: []string{"dba"}}, "approvers"},
		{"bad regex", Rule{Action: ActionDeny, Match: Match{Regex: "("}}, "match.regex"},
		{"bad kind", Rule{Action: ActionDeny, Match: Match{Statement: []string{"DROP"}}}, "match.statement[0]"},
		{"bad table", Rule{Action: ActionDeny, Match: Match{Table: []string{"a.b.c"}}}, "match.table[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileRules([]Rule{tt.rule})
			var re *RuleError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("got %v, want a RuleError on %s", err, tt.field)
			}
		})
	}
}
