package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// newReviewsCmd returns "gatehouse reviews": list, show, approve, reject.
func newReviewsCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reviews",
		Short: "List, show, approve and reject held statements and access requests",
	}
	cmd.AddCommand(newReviewsListCmd(o), newReviewsShowCmd(o),
		newReviewsVoteCmd(o, true), newReviewsVoteCmd(o, false))
	return cmd
}

func newReviewsListCmd(o *clientOptions) *cobra.Command {
	var f store.ReviewFilter
	cmd := &cobra.Command{
		Use:   "list [--status pending] [--connection NAME]",
		Short: "List the reviews you requested or may approve (admins: all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			list, err := c.reviews(cmd.Context(), f)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if o.json {
				if list == nil {
					list = []api.ReviewInfo{}
				}
				return printJSON(w, list)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tKIND\tREQUESTER\tCONNECTION\tAPPROVALS\tCREATED\tEXPIRES\tWHAT")
			for _, r := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", termSafe(r.ID, false),
					termSafe(r.Status, false), termSafe(r.Kind, false), termSafe(r.Requester, false),
					termSafe(r.Connection, false), approvals(&r.Review), r.MinApprovals,
					fmtTime(r.CreatedAt), fmtTime(r.ExpiresAt), termSafe(reviewWhat(&r), false))
			}
			if err := tw.Flush(); err != nil {
				return fmt.Errorf("write table: %w", err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Status, "status", "", "only reviews in this status: pending, approved, rejected or expired")
	fl.StringVar(&f.Connection, "connection", "", "only reviews for this connection")
	return cmd
}

// whatWidth is how much of a statement a table row shows.
const whatWidth = 48

// reviewWhat is a one-line summary of what a review asks for.
func reviewWhat(r *api.ReviewInfo) string {
	if r.Kind == store.ReviewAccess {
		return "access for " + r.AccessFor
	}
	s := strings.Join(strings.Fields(r.Statement), " ")
	if rs := []rune(s); len(rs) > whatWidth {
		s = string(rs[:whatWidth-3]) + "..."
	}
	return s
}

func approvals(r *store.Review) int {
	n := 0
	for _, v := range r.Votes {
		if v.Approve {
			n++
		}
	}
	return n
}

func newReviewsShowCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a review: what it holds, who asked, and the votes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			r, err := c.review(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), r)
			}
			return printReview(cmd.OutOrStdout(), r)
		},
	}
}

func printReview(w io.Writer, r *api.ReviewInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, termSafe(v, false))
		}
	}
	row("Review", r.ID)
	row("Kind", r.Kind)
	row("Status", r.Status)
	row("Requester", r.Requester)
	row("Groups", strings.Join(r.RequesterGroups, ", "))
	row("Connection", r.Connection)
	row("Session", r.Session)
	row("Policy", r.Policy)
	row("Rule", r.Rule)
	row("Access for", r.AccessFor)
	row("Reason", r.Reason)
	row("Approvers", strings.Join(r.Approvers, ", "))
	row("Approvals", fmt.Sprintf("%d of %d", approvals(&r.Review), r.MinApprovals))
	row("Created", fmtTime(r.CreatedAt))
	row("Expires", fmtTime(r.ExpiresAt))
	if !r.DecidedAt.IsZero() {
		row("Decided", fmtTime(r.DecidedAt))
	}
	row("Hash", r.StatementHash)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write review: %w", err)
	}
	if r.Statement != "" {
		fmt.Fprintf(w, "\nStatement:\n  %s\n", indent(termSafe(r.Statement, true), 2))
	}
	if len(r.Votes) > 0 {
		fmt.Fprintln(w, "\nVotes:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, v := range r.Votes {
			verdict := "rejected"
			if v.Approve {
				verdict = "approved"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(v.At), termSafe(v.Identity, false), verdict, termSafe(v.Reason, false))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("write votes: %w", err)
		}
	}
	if r.CanVote {
		fmt.Fprintf(w, "\nDecide with: gatehouse reviews approve %s  or  gatehouse reviews reject %s\n", r.ID, r.ID)
	}
	return nil
}

func newReviewsVoteCmd(o *clientOptions, approve bool) *cobra.Command {
	var reason string
	use, short := "approve ID [--reason TEXT]", "Approve a review; the held statement runs once enough approvers agree"
	if !approve {
		use, short = "reject ID [--reason TEXT]", "Reject a review; the held statement fails"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			r, err := c.voteReview(cmd.Context(), args[0], approve, reason)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if o.json {
				return printJSON(w, r)
			}
			id := termSafe(r.ID, false)
			switch r.Status {
			case store.ReviewApproved:
				_, err = fmt.Fprintf(w, "approved %s\n", id)
			case store.ReviewRejected:
				_, err = fmt.Fprintf(w, "rejected %s\n", id)
			default:
				n := approvals(&r.Review)
				_, err = fmt.Fprintf(w, "approval recorded for %s: %d of %d approvals, another approver must approve too\n", id, n, r.MinApprovals)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the vote")
	return cmd
}

// reviewError turns the gateway's answer about a review into a message
// that says what to do.
func reviewError(id string, err error) error {
	var ae *apiError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Status {
	case http.StatusNotFound:
		return fmt.Errorf("review %q not found: list the reviews you can see with \"gatehouse reviews list\"", id)
	case http.StatusForbidden, http.StatusConflict:
		// The gateway's message is written for the person voting.
		if ae.Message != "" {
			return errors.New(ae.Message)
		}
	}
	return err
}

func (c *apiClient) reviews(ctx context.Context, f store.ReviewFilter) ([]api.ReviewInfo, error) {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "connection": f.Connection, "requester": f.Requester} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out []api.ReviewInfo
	return out, c.do(ctx, http.MethodGet, "/api/v1/reviews", q, nil, &out)
}

func (c *apiClient) review(ctx context.Context, id string) (*api.ReviewInfo, error) {
	var r api.ReviewInfo
	if err := c.do(ctx, http.MethodGet, "/api/v1/reviews/"+url.PathEscape(id), nil, nil, &r); err != nil {
		return nil, reviewError(id, err)
	}
	return &r, nil
}

func (c *apiClient) voteReview(ctx context.Context, id string, approve bool, reason string) (*api.ReviewInfo, error) {
	verb := "/approve"
	if !approve {
		verb = "/reject"
	}
	var r api.ReviewInfo
	err := c.do(ctx, http.MethodPost, "/api/v1/reviews/"+url.PathEscape(id)+verb, nil, api.VoteRequest{Reason: reason}, &r)
	if err != nil {
		return nil, reviewError(id, err)
	}
	return &r, nil
}
