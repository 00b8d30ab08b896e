package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// newSessionsCmd returns "gatehouse sessions": list, show, replay, export.
func newSessionsCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List, inspect, replay and export recorded sessions",
	}
	cmd.AddCommand(newSessionsListCmd(o), newSessionsShowCmd(o), newSessionsReplayCmd(o), newSessionsExportCmd(o))
	return cmd
}

func newSessionsListCmd(o *clientOptions) *cobra.Command {
	var f store.SessionFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List sessions, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			list, err := c.sessions(cmd.Context(), f)
			if err != nil {
				return err
			}
			if o.json {
				if list == nil {
					list = []store.Session{}
				}
				return printJSON(cmd.OutOrStdout(), list)
			}
			if err := printSessions(cmd.OutOrStdout(), list); err != nil {
				return err
			}
			if limit := cmp.Or(f.Limit, defaultSessionsLimit); len(list) >= limit {
				fmt.Fprintf(cmd.ErrOrStderr(), "(the newest %d sessions; --limit shows more)\n", limit)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Identity, "identity", "", "only sessions of this identity")
	fl.StringVar(&f.Connection, "connection", "", "only sessions to this connection")
	fl.StringVar(&f.Status, "status", "", "only sessions with this status: active, ended or failed")
	fl.IntVar(&f.Limit, "limit", 0, fmt.Sprintf("at most this many sessions (default %d)", defaultSessionsLimit))
	return cmd
}

// defaultSessionsLimit is how many sessions the API lists without a limit.
const defaultSessionsLimit = 100

func printSessions(w io.Writer, list []store.Session) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tIDENTITY\tCONNECTION\tPROTOCOL\tSTATUS\tSTARTED\tDURATION\tSTATEMENTS")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n",
			termSafe(s.ID, false), termSafe(s.Identity, false), termSafe(s.Connection, false), termSafe(s.Protocol, false),
			termSafe(s.Status, false), fmtTime(s.StartedAt), sessionDuration(&s), s.Statements)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func sessionDuration(s *store.Session) string {
	if s.EndedAt.IsZero() {
		return "-"
	}
	return fmtDuration(s.EndedAt.Sub(s.StartedAt))
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// recording fetches a session and all its events.
func (o *clientOptions) recording(ctx context.Context, id string) (*store.Session, []store.Event, error) {
	c, err := o.client()
	if err != nil {
		return nil, nil, err
	}
	s, err := c.session(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	evs, err := c.events(ctx, s.ID)
	if err != nil {
		return nil, nil, err
	}
	return s, evs, nil
}

func newSessionsShowCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a session and the timeline of its events",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, evs, err := o.recording(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if o.json {
				if evs == nil {
					evs = []store.Event{}
				}
				return printJSON(w, struct {
					Session *store.Session `json:"session"`
					Events  []store.Event  `json:"events"`
				}{s, evs})
			}
			if err := printSessionHeader(w, s); err != nil {
				return err
			}
			fmt.Fprintln(w)
			return printTimeline(w, s, evs)
		},
	}
}

func printSessionHeader(w io.Writer, s *store.Session) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, termSafe(v, false))
		}
	}
	row("Session", s.ID)
	row("Identity", s.Identity)
	row("Groups", strings.Join(s.Groups, ", "))
	row("Connection", s.Connection)
	row("Database", s.Database)
	row("Protocol", s.Protocol)
	row("Connector", s.Connector)
	row("Client", s.ClientAddr)
	row("Policy", s.Policy)
	row("Status", s.Status)
	row("Error", s.Error)
	row("Started", fmtTime(s.StartedAt))
	if !s.EndedAt.IsZero() {
		row("Ended", fmt.Sprintf("%s (%s)", fmtTime(s.EndedAt), sessionDuration(s)))
	}
	row("Statements", fmt.Sprint(s.Statements))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write session: %w", err)
	}
	return nil
}

// maskedText renders masking counts: "; masked: customers.ssn x3, email x1".
func maskedText(ms []recording.MaskedData) string {
	if len(ms) == 0 {
		return ""
	}
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = fmt.Sprintf("%s x%d", m.Rule, m.Count)
	}
	return "; masked: " + strings.Join(parts, ", ")
}

// printTimeline prints one line (or block) per event, with its offset from
// the session's start.
func printTimeline(w io.Writer, s *store.Session, evs []store.Event) error {
	start := timelineStart(s, evs)
	for _, e := range evs {
		prefix := fmt.Sprintf("%10s  #%-4d %-14s", offset(start, e.Time), e.Seq, termSafe(e.Type, false))
		if _, err := fmt.Fprintf(w, "%s %s\n", prefix, indent(describe(e), len(prefix)+1)); err != nil {
			return fmt.Errorf("write timeline: %w", err)
		}
	}
	if len(evs) == 0 {
		fmt.Fprintln(w, "(no events recorded)")
	}
	return nil
}

func timelineStart(s *store.Session, evs []store.Event) time.Time {
	if len(evs) > 0 {
		return evs[0].Time
	}
	return s.StartedAt
}

func offset(start, t time.Time) string {
	return fmt.Sprintf("+%.3fs", t.Sub(start).Seconds())
}

// describe renders an event's payload as readable text.
func describe(e store.Event) string {
	switch e.Type {
	case "session.start":
		var d recording.StartData
		if json.Unmarshal(e.Data, &d) == nil {
			s := fmt.Sprintf("%s -> %s", d.Identity, d.Connection)
			if d.Database != "" {
				s += "/" + d.Database
			}
			if d.ClientAddr != "" {
				s += " from " + d.ClientAddr
			}
			if d.Policy != "" {
				s += ", policy " + d.Policy
			}
			return termSafe(s, false)
		}
	case "statement":
		var d recording.StatementData
		if json.Unmarshal(e.Data, &d) == nil {
			return statementText(&d)
		}
	case "result":
		var d recording.ResultData
		if json.Unmarshal(e.Data, &d) == nil {
			return resultText(&d)
		}
	case "session.end":
		var d recording.EndData
		if json.Unmarshal(e.Data, &d) == nil {
			s := fmt.Sprintf("%s, %d statement%s", d.Reason, d.Statements, plural(d.Statements))
			if d.Error != "" {
				s += ": " + d.Error
			}
			return termSafe(s+maskedText(d.Masked), false)
		}
	}
	return termSafe(string(e.Data), false)
}

func statementText(d *recording.StatementData) string {
	var b strings.Builder
	b.WriteString(termSafe(strings.TrimSpace(d.Text), true))
	if d.TextTruncated {
		fmt.Fprintf(&b, " ...(truncated, %d bytes)", d.TextSize)
	}
	if d.Text == "" && d.Name != "" {
		fmt.Fprintf(&b, "(prepared statement %q)", termSafe(d.Name, false))
	}
	if len(d.Params) > 0 {
		b.WriteString("\nparams:")
		for i, p := range d.Params {
			fmt.Fprintf(&b, " $%d=%s", i+1, paramText(&p))
		}
	}
	return b.String()
}

// maxBinaryShown is the longest binary parameter shown in hex.
const maxBinaryShown = 32

func paramText(p *recording.ParamData) string {
	if p.Null {
		return "NULL"
	}
	raw, ok := p.Value()
	if !ok {
		return "<undecodable>"
	}
	var s string
	switch {
	case p.Format == 0:
		s = "'" + termSafe(strings.ReplaceAll(string(raw), "'", "''"), false) + "'"
	case len(raw) <= maxBinaryShown:
		s = fmt.Sprintf("<binary %x>", raw)
	default:
		s = fmt.Sprintf("<binary %d bytes>", p.Size)
	}
	if p.Truncated {
		s += fmt.Sprintf("...(truncated, %d bytes)", p.Size)
	}
	return s
}

func resultText(d *recording.ResultData) string {
	if d.Error != nil {
		return termSafe(fmt.Sprintf("%s %s: %s (%s)%s", d.Error.Severity, d.Error.Code, d.Error.Message,
			fmtDuration(msDuration(d.DurationMS)), maskedText(d.Masked)), false)
	}
	rows := "rows"
	if d.Rows == 1 {
		rows = "row"
	}
	return termSafe(fmt.Sprintf("%s, %d %s, %s%s", d.Tag, d.Rows, rows, fmtDuration(msDuration(d.DurationMS)), maskedText(d.Masked)), false) + sampleText(d)
}

// maxCellWidth is the widest a value is shown in a replayed row.
const maxCellWidth = 40

// sampleText renders the kept rows of a result as an aligned table below
// it, or "" when none were kept.
func sampleText(d *recording.ResultData) string {
	if len(d.Columns) == 0 || len(d.Sample) == 0 && !d.SampleTruncated {
		return ""
	}
	table := make([][]string, 0, len(d.Sample)+1)
	head := make([]string, len(d.Columns))
	for i, c := range d.Columns {
		head[i] = cell(termSafe(c, false))
	}
	table = append(table, head)
	for _, row := range d.Sample {
		cells := make([]string, len(d.Columns))
		for i := range cells {
			if i < len(row) {
				cells[i] = cell(sampleValue(row[i]))
			}
		}
		table = append(table, cells)
	}
	width := make([]int, len(d.Columns))
	for _, row := range table {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range table {
		b.WriteString("\n  ")
		for i, c := range row {
			if i > 0 {
				b.WriteString(" | ")
			}
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)))
			}
		}
	}
	if d.SampleTruncated {
		if len(d.Sample) < int(d.Rows) {
			fmt.Fprintf(&b, "\n  (%d of %d rows kept)", len(d.Sample), d.Rows)
		} else {
			b.WriteString("\n  (some rows not kept)")
		}
	}
	return b.String()
}

// cell cuts a value to maxCellWidth characters.
func cell(s string) string {
	if utf8.RuneCountInString(s) <= maxCellWidth {
		return s
	}
	r := []rune(s)
	return string(r[:maxCellWidth-1]) + "…"
}

// sampleValue renders one kept value: NULL, the text, or a note on a
// binary value; a cut value ends in "...".
func sampleValue(raw json.RawMessage) string {
	c := recording.DecodeCell(raw)
	switch {
	case c.Null:
		return "NULL"
	case c.Bad:
		return "?"
	case c.Binary:
		return fmt.Sprintf("<binary %d bytes>", c.Size)
	}
	s := termSafe(string(c.Data), false)
	if c.Truncated {
		s += "..."
	}
	return s
}

func msDuration(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

// indent indents every line after the first by n spaces.
func indent(s string, n int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

func newSessionsReplayCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "replay ID",
		Short: "Replay a database session's statements and results in order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, evs, err := o.recording(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			steps := replaySteps(evs)
			if o.json {
				return printJSON(cmd.OutOrStdout(), steps)
			}
			return printReplay(cmd.OutOrStdout(), s, evs, steps)
		},
	}
}

// replayStep is one statement and the results that followed it.
type replayStep struct {
	Seq       uint64                   `json:"seq"`
	Time      time.Time                `json:"time"`
	Statement *recording.StatementData `json:"statement"`
	// Results has one entry per statement the target ran: several for a
	// simple query holding several statements, none for one that the
	// target skipped or that was still running when the session ended.
	Results []*recording.ResultData `json:"results"`
}

// replaySteps pairs statements with their results. A result that names its
// statement goes to it. Otherwise results come in statement order: a
// result goes to the oldest statement still without one (so pipelined
// statements pair up), and when every statement has one, to the newest (the
// further results of a multi-statement query).
func replaySteps(evs []store.Event) []replayStep {
	steps := []replayStep{}
	waiting := 0 // steps[:waiting] all have a result, or never will
	for _, e := range evs {
		switch e.Type {
		case "statement":
			var d recording.StatementData
			if json.Unmarshal(e.Data, &d) != nil {
				d = recording.StatementData{Text: string(e.Data)}
			}
			steps = append(steps, replayStep{Seq: e.Seq, Time: e.Time, Statement: &d, Results: []*recording.ResultData{}})
		case "result":
			var d recording.ResultData
			if json.Unmarshal(e.Data, &d) != nil || len(steps) == 0 {
				continue
			}
			i := len(steps) - 1
			switch {
			case d.Statement > 0 && d.Statement <= uint64(len(steps)):
				i = int(d.Statement) - 1
			default:
				for waiting < len(steps) && len(steps[waiting].Results) > 0 {
					waiting++
				}
				if waiting < len(steps) {
					i = waiting
				}
			}
			steps[i].Results = append(steps[i].Results, &d)
		}
	}
	return steps
}

func printReplay(w io.Writer, s *store.Session, evs []store.Event, steps []replayStep) error {
	head := fmt.Sprintf("Session %s: %s -> %s", s.ID, s.Identity, s.Connection)
	if s.Database != "" {
		head += "/" + s.Database
	}
	head += ", started " + fmtTime(s.StartedAt)
	fmt.Fprintln(w, termSafe(head, false))
	start := timelineStart(s, evs)
	for i, st := range steps {
		prefix := fmt.Sprintf("[%s] %d.", offset(start, st.Time), i+1)
		fmt.Fprintf(w, "\n%s %s\n", prefix, indent(statementText(st.Statement), len(prefix)+1))
		pad := strings.Repeat(" ", len(prefix)+1)
		for _, r := range st.Results {
			fmt.Fprintf(w, "%s=> %s\n", pad, indent(resultText(r), len(pad)+1))
		}
		if len(st.Results) == 0 {
			fmt.Fprintf(w, "%s=> (no result recorded)\n", pad)
		}
	}
	if len(steps) == 0 {
		fmt.Fprintln(w, "\n(no statements recorded)")
	}
	if !s.EndedAt.IsZero() {
		_, err := fmt.Fprintf(w, "\nSession %s at %s after %s\n", termSafe(s.Status, false), offset(start, s.EndedAt), sessionDuration(s))
		if err != nil {
			return fmt.Errorf("write replay: %w", err)
		}
	}
	return nil
}

func newSessionsExportCmd(o *clientOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "export ID",
		Short: "Export a session's recording, one JSON event per line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "jsonl" {
				return fmt.Errorf("unsupported export format %q: use --format jsonl", format)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			evs, err := c.events(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			// Event data is written byte for byte as recorded, so that an
			// export can be verified again.
			enc.SetEscapeHTML(false)
			for _, e := range evs {
				if err := enc.Encode(e); err != nil {
					return fmt.Errorf("write event %d: %w", e.Seq, err)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "jsonl", "export format: jsonl")
	return cmd
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
