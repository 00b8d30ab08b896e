package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Statement actions.
const (
	ActionAllow  = "allow"
	ActionDeny   = "deny"
	ActionReview = "review"
	ActionLog    = "log"
)

// Rule decides statements that match it. The first rule that matches a
// statement decides it. The yaml tags are the configuration file's keys.
type Rule struct {
	Match  Match  `json:"match" yaml:"match"`
	Action string `json:"action" yaml:"action"`
	// Reason is shown to the client when the rule blocks a statement.
	Reason       string        `json:"reason,omitempty" yaml:"reason"`
	Approvers    []string      `json:"approvers,omitempty" yaml:"approvers"`
	MinApprovals int           `json:"min_approvals,omitempty" yaml:"min_approvals"`
	Timeout      time.Duration `json:"timeout,omitempty" yaml:"timeout"`
}

// Match holds a rule's conditions. Every condition that is set must hold;
// within a list, any entry may match. A Match with nothing set matches
// every statement.
type Match struct {
	// Statement lists statement kinds, as the classifier names them
	// ("select", "delete", "copy_program", ...). A statement matches when
	// any kind found anywhere in it is listed: a DELETE inside a CTE
	// matches "delete".
	Statement []string `json:"statement,omitempty" yaml:"statement"`
	// MissingWhere matches an UPDATE or DELETE without a WHERE clause.
	MissingWhere bool `json:"missing_where,omitempty" yaml:"missing_where"`
	// Function lists function names; "name" matches the function in any
	// schema, "schema.name" only there.
	Function []string `json:"function,omitempty" yaml:"function"`
	// Table lists tables read or written: "name", "schema.name",
	// "schema.*" or "*". A table written without a schema is taken to be in
	// "public", the default search path.
	Table []string `json:"table,omitempty" yaml:"table"`
	// Regex is matched against the normalized statement text. It is an
	// extra check, never the only line of defence.
	Regex string `json:"regex,omitempty" yaml:"regex"`
}

// Table is a table a statement touches.
type Table struct {
	Schema, Name string
	Write        bool
}

// Statement is what the classifier found in one statement.
type Statement struct {
	Kinds        []string
	Tables       []Table
	Functions    []string
	MissingWhere bool
}

// Query is one unit the client asked to run: a simple-protocol query
// string (possibly several statements) or one extended-protocol statement.
type Query struct {
	Statements []Statement
	// Normalized is the text with constants replaced, for Regex.
	Normalized string
	// ParseError is set when the parser rejected the text.
	ParseError error
}

// Verdict is the decision for a Query.
type Verdict struct {
	Action string
	// Rule is the index of the deciding rule, -1 when no rule matched.
	Rule   int
	Reason string
	// Rule settings for a review.
	Approvers    []string
	MinApprovals int
	Timeout      time.Duration
}

// RuleSet is a compiled, immutable list of rules.
type RuleSet struct {
	rules   []Rule
	regexes []*regexp.Regexp
	strict  bool // has a deny or review rule: fail closed on parse errors
}

// RuleError reports a bad rule.
type RuleError struct {
	Index int
	Field string
	Err   error
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("rules[%d].%s: %v", e.Index, e.Field, e.Err)
}

func (e *RuleError) Unwrap() error { return e.Err }

// CompileRules checks and compiles rules.
func CompileRules(rules []Rule) (*RuleSet, error) {
	rs := &RuleSet{rules: slices.Clone(rules), regexes: make([]*regexp.Regexp, len(rules))}
	for i := range rs.rules {
		r := &rs.rules[i]
		r.Approvers = slices.Clone(r.Approvers)
		r.Match.Statement = slices.Clone(r.Match.Statement)
		r.Match.Function = slices.Clone(r.Match.Function)
		r.Match.Table = slices.Clone(r.Match.Table)
		switch r.Action {
		case ActionAllow, ActionLog:
		case ActionDeny:
			rs.strict = true
		case ActionReview:
			rs.strict = true
			if len(r.Approvers) == 0 {
				return nil, &RuleError{i, "approvers", errors.New("a review rule needs approvers")}
			}
			for _, a := range r.Approvers {
				if err := validSubject(a); err != nil {
					return nil, &RuleError{i, "approvers", err}
				}
			}
			if r.MinApprovals == 0 {
				r.MinApprovals = 1
			}
			if r.MinApprovals < 0 {
				return nil, &RuleError{i, "min_approvals", errors.New("must be at least 1")}
			}
			if r.Timeout == 0 {
				r.Timeout = 10 * time.Minute
			}
			if r.Timeout < 0 {
				return nil, &RuleError{i, "timeout", errors.New("must be positive")}
			}
		case "":
			return nil, &RuleError{i, "action", errors.New("must be allow, deny, review or log")}
		default:
			return nil, &RuleError{i, "action", fmt.Errorf("unknown action %q: must be allow, deny, review or log", r.Action)}
		}
		for j, k := range r.Match.Statement {
			if k == "" || strings.ToLower(k) != k {
				return nil, &RuleError{i, fmt.Sprintf("match.statement[%d]", j), fmt.Errorf("invalid statement kind %q", k)}
			}
		}
		for j, f := range r.Match.Function {
			if f == "" || strings.Count(f, ".") > 1 {
				return nil, &RuleError{i, fmt.Sprintf("match.function[%d]", j), fmt.Errorf("invalid function name %q", f)}
			}
			r.Match.Function[j] = strings.ToLower(f)
		}
		for j, t := range r.Match.Table {
			if t == "" || strings.Count(t, ".") > 1 {
				return nil, &RuleError{i, fmt.Sprintf("match.table[%d]", j), fmt.Errorf("invalid table pattern %q", t)}
			}
			r.Match.Table[j] = strings.ToLower(t)
		}
		if r.Match.Regex != "" {
			re, err := regexp.Compile(r.Match.Regex)
			if err != nil {
				return nil, &RuleError{i, "match.regex", err}
			}
			rs.regexes[i] = re
		}
	}
	return rs, nil
}

// Strict reports whether the rules include a deny or review rule, in which
// case a statement that cannot be parsed is denied.
func (rs *RuleSet) Strict() bool { return rs != nil && rs.strict }

// Decide returns the verdict for q. Each statement is decided by the first
// rule that matches it; the query as a whole takes the most restrictive of
// its statements' verdicts (deny, then review, then log, then allow), so a
// denied statement cannot ride along in a multi-statement string.
func (rs *RuleSet) Decide(q *Query) Verdict {
	allow := Verdict{Action: ActionAllow, Rule: -1}
	if rs == nil || len(rs.rules) == 0 {
		return allow
	}
	if q.ParseError != nil {
		if rs.strict {
			return Verdict{Action: ActionDeny, Rule: -1, Reason: "the statement could not be parsed"}
		}
		return Verdict{Action: ActionLog, Rule: -1, Reason: "the statement could not be parsed"}
	}
	best := allow
	for i := range q.Statements {
		v := rs.decideOne(&q.Statements[i], q.Normalized)
		if severity(v.Action) > severity(best.Action) {
			best = v
		}
	}
	return best
}

func severity(action string) int {
	switch action {
	case ActionDeny:
		return 3
	case ActionReview:
		return 2
	case ActionLog:
		return 1
	}
	return 0
}

func (rs *RuleSet) decideOne(s *Statement, normalized string) Verdict {
	for i := range rs.rules {
		r := &rs.rules[i]
		if !rs.matches(i, s, normalized) {
			continue
		}
		return Verdict{Action: r.Action, Rule: i, Reason: r.Reason, Approvers: r.Approvers, MinApprovals: r.MinApprovals, Timeout: r.Timeout}
	}
	return Verdict{Action: ActionAllow, Rule: -1}
}

func (rs *RuleSet) matches(i int, s *Statement, normalized string) bool {
	m := &rs.rules[i].Match
	if len(m.Statement) > 0 && !anyIn(s.Kinds, m.Statement) {
		return false
	}
	if m.MissingWhere && !s.MissingWhere {
		return false
	}
	if len(m.Function) > 0 && !matchFunctions(s.Functions, m.Function) {
		return false
	}
	if len(m.Table) > 0 && !matchTables(s.Tables, m.Table) {
		return false
	}
	if re := rs.regexes[i]; re != nil && !re.MatchString(normalized) {
		return false
	}
	return true
}

func anyIn(have, want []string) bool {
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

func matchFunctions(called, patterns []string) bool {
	for _, c := range called {
		c = strings.ToLower(c)
		_, bare, qualified := strings.Cut(c, ".")
		for _, p := range patterns {
			if p == c {
				return true
			}
			if qualified && !strings.Contains(p, ".") && p == bare {
				return true
			}
		}
	}
	return false
}

func matchTables(tables []Table, patterns []string) bool {
	for _, t := range tables {
		schema, name := strings.ToLower(t.Schema), strings.ToLower(t.Name)
		if schema == "" {
			schema = "public"
		}
		for _, p := range patterns {
			if p == "*" {
				return true
			}
			ps, pn, qualified := strings.Cut(p, ".")
			if !qualified {
				if ps == name {
					return true
				}
				continue
			}
			if ps == schema && (pn == "*" || pn == name) {
				return true
			}
		}
	}
	return false
}

// validSubject checks "group:NAME" or "identity:NAME".
func validSubject(s string) error {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" || (kind != "group" && kind != "identity") {
		return fmt.Errorf("invalid subject %q: must be group:NAME or identity:NAME", s)
	}
	return nil
}
