package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/connector"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/sqlclass"
)

func newPolicyCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with policies",
	}
	cmd.AddCommand(newPolicyCheckCmd(), newPolicyApplyCmd(o))
	return cmd
}

func newPolicyApplyCmd(o *clientOptions) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Replace the gateway's policies with those in FILE, without a restart",
		Long: `Sends FILE (a document with a policies: list, or a whole configuration
file) to the gateway, which validates it whole: an invalid file is refused
with the field named and the policies in force stay. New sessions use the
new policies; live sessions keep theirs. Needs an admin token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("policy apply needs -f FILE")
			}
			doc, err := os.ReadFile(file)
			if err != nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var d api.PolicyDigest
			if err := c.do(cmd.Context(), http.MethodPut, "/api/v1/policies", nil, yamlBody(doc), &d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policies applied (%s)\n", d.Digest)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (YAML)")
	return cmd
}

// checkReport is what `policy check` prints.
type checkReport struct {
	Decision   string            `json:"decision"`
	Policy     string            `json:"policy,omitempty"`
	Rule       string            `json:"rule,omitempty"`
	Reason     string            `json:"reason,omitempty"`
	Statements []checkStatement  `json:"statements,omitempty"`
	ParseError string            `json:"parse_error,omitempty"`
	Identity   string            `json:"identity"`
	Groups     []string          `json:"groups"`
	Connection string            `json:"connection"`
	Tags       map[string]string `json:"tags,omitempty"`
}

type checkStatement struct {
	Kinds        []string `json:"kinds"`
	Tables       []string `json:"tables,omitempty"`
	Functions    []string `json:"functions,omitempty"`
	MissingWhere bool     `json:"missing_where,omitempty"`
}

func newPolicyCheckCmd() *cobra.Command {
	var (
		cfgPath, identity, conn string
		groups                  []string
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "check --config FILE --identity NAME [--groups a,b] --connection NAME SQL",
		Short: "Dry-run the policies of a configuration on a statement",
		Long: `Decides SQL as the gateway and connector would for the given identity
and connection, and prints the decision, the deciding policy and rule, and
what the parser found. Exits 1 when the statement would be blocked or the
session refused, so it can run in CI.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfgPath == "" || identity == "" || conn == "" {
				return errors.New("policy check needs --config, --identity and --connection")
			}
			// The check needs no secrets: a password's ${VAR} may be unset.
			cfg, err := config.LoadForCheck(cfgPath)
			if err != nil {
				return err
			}
			rep, err := checkPolicy(cfg, identity, groups, conn, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := printJSON(out, rep); err != nil {
					return err
				}
			} else {
				printCheck(out, rep)
			}
			switch rep.Decision {
			case "refused":
				return fmt.Errorf("%s may not open sessions to %s", identity, conn)
			case policy.ActionDeny:
				return fmt.Errorf("statement would be blocked by policy %s", rep.Policy)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfgPath, "config", "c", "", "configuration file holding the policies")
	f.StringVar(&identity, "identity", "", "identity to check as")
	f.StringSliceVar(&groups, "groups", nil, "groups of the identity (comma-separated)")
	f.StringVar(&conn, "connection", "", "connection name")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func checkPolicy(cfg *config.Config, identity string, groups []string, connName, sql string) (*checkReport, error) {
	rep := &checkReport{Identity: identity, Groups: groups, Connection: connName}
	var tags map[string]string
	found := false
	for _, cn := range cfg.Connections {
		if cn.Name == connName {
			tags, found = cn.Tags, true
		}
	}
	if !found {
		return nil, fmt.Errorf("connection %q is not in the configuration", connName)
	}
	rep.Tags = tags
	d := cfg.PolicySet().Access(policy.Subject{Identity: identity, Groups: groups}, policy.Target{Name: connName, Tags: tags})
	rep.Policy = d.Policy
	if !d.Allowed {
		rep.Decision = "refused"
		rep.Reason = d.Reason
		return rep, nil
	}
	rs, err := policy.CompileRules(d.Rules)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", d.Policy, err)
	}
	q := &policy.Query{}
	res, perr := sqlclass.Classify(sql)
	if perr != nil {
		q.ParseError = perr
		rep.ParseError = perr.Error()
	} else {
		q.Normalized = res.Normalized
		for i := range res.Statements {
			ps := connector.PolicyStatement(&res.Statements[i])
			q.Statements = append(q.Statements, ps)
			cs := checkStatement{Kinds: ps.Kinds, Functions: ps.Functions, MissingWhere: ps.MissingWhere}
			for _, t := range ps.Tables {
				name := t.Name
				if t.Schema != "" {
					name = t.Schema + "." + name
				}
				if t.Write {
					name += " (write)"
				}
				cs.Tables = append(cs.Tables, name)
			}
			rep.Statements = append(rep.Statements, cs)
		}
	}
	v := rs.Decide(q)
	rep.Decision, rep.Reason = v.Action, v.Reason
	if v.Rule >= 0 {
		rep.Rule = fmt.Sprintf("rules[%d]", v.Rule)
	}
	return rep, nil
}

func printCheck(w io.Writer, r *checkReport) {
	fmt.Fprintf(w, "decision:   %s\n", r.Decision)
	if r.Policy != "" {
		fmt.Fprintf(w, "policy:     %s\n", r.Policy)
	}
	if r.Rule != "" {
		fmt.Fprintf(w, "rule:       %s\n", r.Rule)
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "reason:     %s\n", r.Reason)
	}
	fmt.Fprintf(w, "identity:   %s (groups: %s)\n", r.Identity, strings.Join(r.Groups, ", "))
	fmt.Fprintf(w, "connection: %s\n", r.Connection)
	if r.ParseError != "" {
		fmt.Fprintf(w, "parse error: %s\n", r.ParseError)
	}
	for i, s := range r.Statements {
		fmt.Fprintf(w, "statement %d: %s", i+1, strings.Join(s.Kinds, ", "))
		if len(s.Tables) > 0 {
			fmt.Fprintf(w, "; tables: %s", strings.Join(s.Tables, ", "))
		}
		if len(s.Functions) > 0 {
			fmt.Fprintf(w, "; functions: %s", strings.Join(s.Functions, ", "))
		}
		if s.MissingWhere {
			fmt.Fprint(w, "; no WHERE")
		}
		fmt.Fprintln(w)
	}
}
