package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/notify"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

var reviewIDRE = regexp.MustCompile(`review (r_[0-9a-f]+); approve with: gatehouse reviews approve (r_[0-9a-f]+)`)

// heldExec runs sql on a session whose statements need review and returns
// the review ID from the notice as soon as it arrives, and a channel with
// the statement's outcome.
func heldExec(t *testing.T, h *gw, token, app, sql string) (string, <-chan error) {
	t.Helper()
	notices := make(chan string, 4)
	cc := h.pgxConfig(t, connName, token, app)
	cc.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices <- n.Message }
	c := connect(t, cc)
	done := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), sql, pgx.QueryExecModeSimpleProtocol)
		done <- err
	}()
	select {
	case msg := <-notices:
		m := reviewIDRE.FindStringSubmatch(msg)
		if m == nil || m[1] != m[2] {
			t.Fatalf("notice %q does not name the review and how to approve it", msg)
		}
		return m[1], done
	case err := <-done:
		t.Fatalf("statement finished without being held: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("no hold notice")
	}
	return "", nil
}

func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatal("held statement never finished")
		return nil
	}
}

// TestUpStatementReview holds a statement for approval inline on the
// client's own protocol: a second identity approves it from the CLI while
// the client waits, the requester cannot approve their own, a rejection
// names the approver, and an unanswered review times out.
func TestUpStatementReview(t *testing.T) {
	t.Parallel()
	hooked := make(chan notify.Event, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e notify.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err == nil {
			hooked <- e
		}
	}))
	defer hook.Close()
	h := startUp(t, func(cfg *config.Config) {
		cfg.Gateway.PublicURL = "https://gatehouse.example.com"
		cfg.Notify.Webhooks = []config.Webhook{{URL: config.Secret(hook.URL + "/secret-path"), Events: []string{"review.created"}}}
		cfg.Policies[0].Rules = []policy.Rule{
			{Match: policy.Match{Statement: []string{"insert"}, Table: []string{"slow"}}, Action: "review", Approvers: []string{"group:dba"}, Timeout: 2 * time.Second},
			{Match: policy.Match{Statement: []string{"insert", "delete"}}, Action: "review", Approvers: []string{"group:dba"}, Timeout: time.Minute},
		}
	})
	ctx := ctxT(t)
	setup := connect(t, h.pgxConfig(t, connName, h.ciToken(t), "setup"))
	if _, err := setup.Exec(ctx, "CREATE TABLE held (id int); CREATE TABLE slow (id int)", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	requester := h.token(t, "ci-bot", "ci", "dba") // in the approver group, still may not approve its own
	approver := h.token(t, "dba-1", "dba")

	t.Run("approved by another identity", func(t *testing.T) {
		id, done := heldExec(t, h, requester, "approve", "INSERT INTO held VALUES (1)")
		if res := h.runCLI(t, requester, "reviews", "approve", id); res.Code == 0 || !strings.Contains(res.Stderr, "another approver") {
			t.Errorf("self-approval: exit %d, stderr %q; want a refusal", res.Code, res.Stderr)
		}
		if res := h.runCLI(t, approver, "reviews", "approve", id, "--reason", "looks fine"); res.Code != 0 {
			t.Fatalf("approve: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
		}
		if err := wait(t, done); err != nil {
			t.Fatalf("approved statement: %v", err)
		}
		select {
		case e := <-hooked:
			if e.Event != "review.created" || !strings.Contains(e.Text, "gatehouse reviews approve "+id) || e.URL != "https://gatehouse.example.com/console/reviews/"+id {
				t.Errorf("webhook got %+v, want review.created for %s with its link", e, id)
			}
		case <-time.After(waitLimit):
			t.Error("no webhook for the review")
		}
		var n int
		if err := setup.QueryRow(ctx, "SELECT count(*) FROM held").Scan(&n); err != nil || n != 1 {
			t.Errorf("after approval: %d rows, %v; want 1", n, err)
		}
		// Both review steps are in the session's recording, before the
		// statement they held.
		held := waitEvent(t, h, "review.held", id)
		decided := waitEvent(t, h, "review.decided", id)
		if !strings.Contains(string(decided.Data), `"approved_by":["dba-1"]`) || !strings.Contains(string(decided.Data), `"status":"approved"`) || held.Seq >= decided.Seq {
			t.Errorf("review events: held %s (seq %d), decided %s (seq %d)", held.Data, held.Seq, decided.Data, decided.Seq)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		id, done := heldExec(t, h, requester, "reject", "DELETE FROM held")
		if res := h.runCLI(t, approver, "reviews", "reject", id, "--reason", "not today"); res.Code != 0 {
			t.Fatalf("reject: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
		}
		err := wait(t, done)
		var pe *pgconn.PgError
		want := "gatehouse: review " + id + " rejected by dba-1: not today"
		if !errors.As(err, &pe) || pe.Code != "42501" || pe.Message != want {
			t.Fatalf("got %v, want 42501 %q", err, want)
		}
	})
	t.Run("timed out", func(t *testing.T) {
		id, done := heldExec(t, h, requester, "timeout", "INSERT INTO slow VALUES (1)")
		err := wait(t, done)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" || pe.Message != "gatehouse: review "+id+" timed out" {
			t.Fatalf("got %v, want 57014 naming %s", err, id)
		}
	})
	// A client that cancels its held statement, or goes away, withdraws
	// the review: it ends expired, and approving it runs nothing.
	for _, how := range []string{"cancel", "disconnect"} {
		t.Run(how, func(t *testing.T) {
			notices := make(chan string, 4)
			cc := h.pgxConfig(t, connName, requester, "withdraw-"+how)
			cc.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices <- n.Message }
			cc.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
				return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: time.Minute}
			}
			c := connect(t, cc)
			qctx, cancel := context.WithCancel(ctx)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := c.Exec(qctx, "INSERT INTO held VALUES (99)", pgx.QueryExecModeSimpleProtocol)
				done <- err
			}()
			var id string
			select {
			case msg := <-notices:
				id = reviewIDRE.FindStringSubmatch(msg)[1]
			case <-time.After(waitLimit):
				t.Fatal("no hold notice")
			}
			if how == "cancel" {
				cancel()
				if err := wait(t, done); pgCode(err) != "57014" {
					t.Errorf("canceled held statement: got %v, want 57014", err)
				}
			} else {
				c.PgConn().Conn().Close()
			}
			deadline := time.Now().Add(waitLimit)
			for {
				r, err := h.g.Store().GetReview(ctx, id)
				if err == nil && r.Status == store.ReviewExpired {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("review %s after the client's %s: %+v, %v; want expired", id, how, r, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if res := h.runCLI(t, approver, "reviews", "approve", id); res.Code == 0 {
				t.Errorf("approving a withdrawn review succeeded: %s", res.Stdout)
			}
		})
	}
	var n int
	if err := setup.QueryRow(ctx, "SELECT (SELECT count(*) FROM held) + (SELECT count(*) FROM slow)").Scan(&n); err != nil || n != 1 {
		t.Errorf("rows after all reviews: %d, %v; want only the approved insert", n, err)
	}
}

// TestSplitStatementReview holds a statement at a connector in split mode:
// the review is created at the gateway over the tunnel and its decision
// travels back to the connector holding the statement.
func TestSplitStatementReview(t *testing.T) {
	t.Parallel()
	db := pg.CreateDatabase(t)
	s := startSplit(t, db, []config.Connection{targetConn(connName, db)}, func(cfg *config.Config) {
		cfg.Policies[0].Rules = []policy.Rule{
			{Match: policy.Match{Statement: []string{"insert"}}, Action: "review", Approvers: []string{"group:dba"}, Timeout: time.Minute},
		}
	})
	ctx := ctxT(t)
	setup := connect(t, s.pgxConfig(t, connName, s.ciToken(t), "setup"))
	if _, err := setup.Exec(ctx, "CREATE TABLE held (id int)", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	id, done := heldExec(t, s.gw, s.ciToken(t), "split-review", "INSERT INTO held VALUES (1)")
	if res := s.runCLI(t, s.token(t, "dba-1", "dba"), "reviews", "approve", id); res.Code != 0 {
		t.Fatalf("approve: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
	}
	if err := wait(t, done); err != nil {
		t.Fatalf("approved statement through the connector: %v", err)
	}
	var n int
	if err := setup.QueryRow(ctx, "SELECT count(*) FROM held").Scan(&n); err != nil || n != 1 {
		t.Errorf("after approval: %d rows, %v; want 1", n, err)
	}
}

var requestIDRE = regexp.MustCompile(`review (r_[0-9a-f]+)`)

// TestUpAccessReview: a policy with access: review refuses sessions until
// an access request is approved by someone else; then sessions work until
// the grant ends, and a live session ends with it.
func TestUpAccessReview(t *testing.T) {
	t.Parallel()
	h := startUp(t, func(cfg *config.Config) {
		cfg.Policies[0].Access = config.AccessReview
		cfg.Policies[0].Approvers = []string{"group:dba"}
	})
	tok := h.ciToken(t)
	ctx := ctxT(t)
	if _, err := pgx.ConnectConfig(ctx, h.pgxConfig(t, connName, tok, "before")); err == nil || !strings.Contains(err.Error(), "needs an approved access request") {
		t.Fatalf("before any request: got %v, want a refusal that says how to request access", err)
	}
	res := h.runCLI(t, tok, "request", connName, "--for", "3s", "--reason", "incident 42")
	m := requestIDRE.FindStringSubmatch(res.Stdout)
	if res.Code != 0 || m == nil {
		t.Fatalf("request: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
	}
	if res := h.runCLI(t, tok, "reviews", "approve", m[1]); res.Code == 0 {
		t.Error("the requester approved their own access request")
	}
	if res := h.runCLI(t, h.token(t, "dba-1", "dba"), "reviews", "approve", m[1]); res.Code != 0 {
		t.Fatalf("approve: exit %d: %s%s", res.Code, res.Stdout, res.Stderr)
	}
	c := connect(t, h.pgxConfig(t, connName, tok, "granted"))
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("under the grant: %v", err)
	}
	// The grant lasts 3s: the live session must end with it.
	deadline := time.Now().Add(waitLimit)
	for {
		_, err := c.Exec(ctx, "SELECT 1")
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session outlived its access grant")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := pgx.ConnectConfig(ctx, h.pgxConfig(t, connName, tok, "after")); err == nil {
		t.Error("a new session after the grant ended was let in")
	}
}

// waitEvent polls the gateway's store for an event of type typ whose data
// names review id.
func waitEvent(t *testing.T, h *gw, typ, id string) store.Event {
	t.Helper()
	ctx := ctxT(t)
	for deadline := time.Now().Add(waitLimit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		sessions, err := h.g.Store().ListSessions(ctx, store.SessionFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sessions {
			evs, err := h.g.Store().ListEvents(ctx, s.ID, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Type == typ && strings.Contains(string(e.Data), `"review":"`+id+`"`) {
					return e
				}
			}
		}
	}
	t.Fatalf("no %s event for %s in any recording", typ, id)
	return store.Event{}
}
