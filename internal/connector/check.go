package connector

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/sqlclass"
)

// checker decides each statement of one session by its policy's rules.
// The engine calls it from the session's client-reading goroutine only, in
// statement order, so it keeps per-session state without locking.
type checker struct {
	policy string
	rules  *policy.RuleSet
	cache  *sqlclass.Cache
	// prepared maps SQL-level PREPARE names to what they hold, so that a
	// later EXECUTE is decided by the statement it runs.
	prepared map[string][]policy.Statement
}

// errUnknownPrepared stands for an EXECUTE of a name this session did not
// PREPARE where we could see it; under strict rules it is denied.
var errUnknownPrepared = fmt.Errorf("execute of a statement prepared outside gatehouse's view")

func (c *checker) check(_ context.Context, s *postgres.Statement, _ func(string) error) *postgres.Denial {
	q := c.query(s)
	v := c.rules.Decide(q)
	s.Decision = v.Action
	s.Policy = c.policy
	s.Reason = v.Reason
	if v.Rule >= 0 {
		s.Rule = fmt.Sprintf("rules[%d]", v.Rule)
	}
	switch v.Action {
	case policy.ActionAllow, policy.ActionLog:
		return nil
	}
	// Deny, and any action this version cannot carry out, blocks.
	msg := "gatehouse: blocked by policy " + c.policy
	if v.Reason != "" {
		msg += ": " + v.Reason
	}
	return &postgres.Denial{Code: "42501", Message: msg}
}

// query classifies the statement's text into what the rules look at.
func (c *checker) query(s *postgres.Statement) *policy.Query {
	if strings.TrimSpace(s.Text) == "" {
		return &policy.Query{ParseError: fmt.Errorf("no statement text (%s)", s.Protocol)}
	}
	res, err := c.cache.Classify(s.Text)
	if err != nil {
		return &policy.Query{ParseError: err}
	}
	q := &policy.Query{Normalized: res.Normalized}
	for i := range res.Statements {
		st := &res.Statements[i]
		if st.Executes != "" {
			prep, ok := c.prepared[st.Executes]
			if !ok {
				return &policy.Query{ParseError: errUnknownPrepared}
			}
			q.Statements = append(q.Statements, prep...)
		}
		ps := PolicyStatement(st)
		if st.Prepares != "" {
			if c.prepared == nil {
				c.prepared = make(map[string][]policy.Statement)
			}
			c.prepared[st.Prepares] = []policy.Statement{ps}
		}
		q.Statements = append(q.Statements, ps)
	}
	return q
}

// PolicyStatement turns a classified statement into what policy rules
// match on.
func PolicyStatement(st *sqlclass.Statement) policy.Statement {
	ps := policy.Statement{
		Kinds:        make([]string, len(st.Kinds)),
		Functions:    st.Functions,
		MissingWhere: st.MissingWhere,
		Tables:       make([]policy.Table, len(st.Tables)),
	}
	for i, k := range st.Kinds {
		ps.Kinds[i] = string(k)
	}
	for i, t := range st.Tables {
		ps.Tables[i] = policy.Table{Schema: t.Schema, Name: t.Name, Write: t.Write}
	}
	return ps
}
