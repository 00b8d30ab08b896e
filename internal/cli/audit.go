package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// newAuditCmd returns "gatehouse audit".
func newAuditCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check that recordings were not tampered with; show authentication events",
	}
	cmd.AddCommand(newAuditVerifyCmd(o), newAuditEventsCmd(o))
	return cmd
}

// errAuditFailed is returned after a failure was already printed in detail.
var errAuditFailed = errors.New("recording verification failed")

func newAuditVerifyCmd(o *clientOptions) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "verify [ID]",
		Short: "Verify a session's hash chain and signature, or those of the newest sessions",
		Long: "Verify checks that a session's recorded events form an unbroken hash chain and that\n" +
			"the gateway's signature over its closing event is valid. It exits 1 naming the first\n" +
			"broken event. Without an ID it verifies the newest sessions (--limit).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				res, err := c.verify(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if o.json {
					if err := printJSON(w, res); err != nil {
						return err
					}
				} else {
					fmt.Fprintln(w, verifySummary(args[0], res))
				}
				if !res.OK {
					return verifyError(args[0], res)
				}
				return nil
			}
			list, err := c.sessions(cmd.Context(), store.SessionFilter{Limit: limit})
			if err != nil {
				return err
			}
			type row struct {
				Session string `json:"session"`
				*api.VerifyResult
			}
			rows := make([]row, 0, len(list))
			bad := 0
			for _, s := range list {
				res, err := c.verify(cmd.Context(), s.ID)
				if err != nil {
					return err
				}
				if !res.OK {
					bad++
				}
				rows = append(rows, row{s.ID, res})
			}
			if o.json {
				if err := printJSON(w, rows); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SESSION\tRESULT\tEVENTS\tSIGNATURE")
				for _, r := range rows {
					result := "ok"
					if !r.OK {
						result = "FAILED: " + verifyProblem(r.VerifyResult)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", termSafe(r.Session, false), termSafe(result, false), r.Events, r.Signature)
				}
				if err := tw.Flush(); err != nil {
					return fmt.Errorf("write table: %w", err)
				}
			}
			if bad > 0 {
				return fmt.Errorf("%w: %d of %d sessions failed", errAuditFailed, bad, len(rows))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "without an ID, how many of the newest sessions to verify")
	return cmd
}

func verifySummary(id string, res *api.VerifyResult) string {
	if !res.OK {
		return "FAILED: " + verifyError(id, res).Error()
	}
	sig := "signature valid"
	if res.Signature == api.SignatureMissing {
		sig = "not signed yet (the session is not closed)"
	}
	return termSafe(fmt.Sprintf("session %s: OK, %d events, hash chain intact, %s", id, res.Events, sig), false)
}

// verifyError names what is broken in a failed verification.
func verifyError(id string, res *api.VerifyResult) error {
	return fmt.Errorf("%w: session %s: %s", errAuditFailed, termSafe(id, false), verifyProblem(res))
}

// verifyProblem says what is wrong with a failed verification.
func verifyProblem(res *api.VerifyResult) string {
	switch {
	case res.Reason != "":
		return fmt.Sprintf("event %d: %s", res.FirstBadSeq, termSafe(res.Reason, false))
	case res.Signature == api.SignatureInvalid:
		return "signature invalid: the recording's end does not match what the gateway signed"
	default:
		return "not verified"
	}
}
