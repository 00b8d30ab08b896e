package connector

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/review"
	"github.com/gatehouse-dev/gatehouse/internal/sqlclass"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// checker decides each statement of one session by its policy's rules.
// The engine calls it from the session's client-reading goroutine only, in
// statement order, so it keeps per-session state without locking.
type checker struct {
	policy string
	rules  *policy.RuleSet
	cache  *sqlclass.Cache
	// req is the session's request: who asks, through which connection.
	req *Request
	// hold creates a review and waits for its decision; nil means reviews
	// cannot be held here, and statements that need one are blocked.
	hold HoldFunc
	// rec records the review steps in the session's recording; set by
	// Session.Run before the relay starts.
	rec *recorder
	// prepared maps SQL-level PREPARE names to what they hold, so that a
	// later EXECUTE is decided by the statement it runs.
	prepared map[string][]policy.Statement
}

// errUnknownPrepared stands for an EXECUTE of a name this session did not
// PREPARE where we could see it; under strict rules it is denied.
var errUnknownPrepared = fmt.Errorf("execute of a statement prepared outside gatehouse's view")

func (c *checker) check(ctx context.Context, s *postgres.Statement, notice func(string) error) *postgres.Denial {
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
	case policy.ActionReview:
		if c.hold != nil {
			return c.review(ctx, s, &v, notice)
		}
	}
	// Deny, and any action this connector cannot carry out, blocks.
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

// HoldFunc creates review r, calls created with it once it exists (so the
// client can be told its ID), and waits until it is decided or ctx ends.
type HoldFunc func(ctx context.Context, r *store.Review, created func(*store.Review)) (*store.Review, error)

// review holds s for approval and turns the decision into a verdict.
func (c *checker) review(ctx context.Context, s *postgres.Statement, v *policy.Verdict, notice func(string) error) *postgres.Denial {
	params := make([][]byte, len(s.Params))
	for i, p := range s.Params {
		if !p.Null {
			params[i] = append([]byte{}, p.Data...)
		}
	}
	r := &store.Review{
		Kind:            store.ReviewStatement,
		Requester:       c.req.Identity,
		RequesterGroups: c.req.Groups,
		Connection:      c.req.Connection,
		Session:         c.req.Session,
		Policy:          c.policy,
		Rule:            s.Rule,
		Statement:       redacted(s.Text),
		StatementHash:   review.StatementHash(s.Text, params),
		Reason:          v.Reason,
		Approvers:       v.Approvers,
		MinApprovals:    v.MinApprovals,
		ExpiresAt:       time.Now().Add(v.Timeout),
	}
	var recErr error
	decided, err := c.hold(ctx, r, func(r *store.Review) {
		recErr = c.rec.record(time.Now(), recording.TypeReviewHeld, reviewEvent{r})
		_ = notice(fmt.Sprintf("gatehouse: held for approval, review %s; approve with: gatehouse reviews approve %s", r.ID, r.ID))
	})
	if err == nil && recErr == nil {
		recErr = c.rec.record(time.Now(), recording.TypeReviewDecided, reviewEvent{decided})
	}
	if err != nil || recErr != nil {
		// A review step that cannot be recorded must not let the statement run.
		return &postgres.Denial{Code: "57014", Message: "gatehouse: the statement could not be held for approval"}
	}
	s.Reason = "review " + decided.ID + " " + decided.Status
	switch decided.Status {
	case store.ReviewApproved:
		s.Decision = policy.ActionAllow
		return nil
	case store.ReviewRejected:
		msg := fmt.Sprintf("gatehouse: review %s rejected", decided.ID)
		for _, vote := range decided.Votes {
			if !vote.Approve {
				msg += " by " + vote.Identity
				if vote.Reason != "" {
					msg += ": " + vote.Reason
				}
				break
			}
		}
		s.Decision = policy.ActionDeny
		return &postgres.Denial{Code: "42501", Message: msg}
	}
	s.Decision = policy.ActionDeny
	return &postgres.Denial{Code: "57014", Message: fmt.Sprintf("gatehouse: review %s timed out", decided.ID)}
}

// redacted is a statement as a reviewer sees it: its passwords hidden.
func redacted(text string) string {
	t, _ := sqlclass.RedactSecrets(text)
	return t
}
