package console

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// eventView is one line of a session's timeline. Exactly one of the
// payload fields is set; Raw when the payload is of no known shape.
type eventView struct {
	Seq       uint64
	Offset    string
	Time      time.Time
	Type      string
	Start     *recording.StartData
	Statement *statementView
	Result    *resultView
	End       *recording.EndData
	Review    *recording.ReviewData
	Raw       string
}

type statementView struct {
	Protocol string
	Text     string
	// Cut says how long the recorded text was when it was cut.
	Cut    string
	Name   string
	Params []string
}

type resultView struct {
	Statement uint64
	Tag       string
	Rows      int64
	Duration  string
	Error     string
	Masked    []recording.MaskedData
	Columns   []string
	Sample    [][]cellView
	// Kept says how much of the result was kept when not all of it was.
	Kept string
}

// cellView is one kept value: Null for NULL, Note for what cannot be shown
// as text (a binary value), and Cut when it was cut when recorded.
type cellView struct {
	Text string
	Null bool
	Note bool
	Cut  bool
}

// timeline turns recorded events into what the session page shows; start
// is the time offsets count from.
func timeline(evs []store.Event, start time.Time) []eventView {
	out := make([]eventView, 0, len(evs))
	for _, e := range evs {
		v := eventView{Seq: e.Seq, Time: e.Time, Type: e.Type, Offset: fmt.Sprintf("+%.3fs", e.Time.Sub(start).Seconds())}
		if !decodeEvent(&v, e) {
			v.Raw = string(e.Data)
		}
		out = append(out, v)
	}
	return out
}

func decodeEvent(v *eventView, e store.Event) bool {
	switch e.Type {
	case recording.TypeSessionStart:
		var d recording.StartData
		if json.Unmarshal(e.Data, &d) == nil {
			v.Start = &d
			return true
		}
	case recording.TypeStatement:
		var d recording.StatementData
		if json.Unmarshal(e.Data, &d) == nil {
			v.Statement = statementOf(&d)
			return true
		}
	case recording.TypeResult:
		var d recording.ResultData
		if json.Unmarshal(e.Data, &d) == nil {
			v.Result = resultOf(&d)
			return true
		}
	case recording.TypeSessionEnd:
		var d recording.EndData
		if json.Unmarshal(e.Data, &d) == nil {
			v.End = &d
			return true
		}
	case recording.TypeReviewHeld, recording.TypeReviewDecided:
		var d recording.ReviewData
		if json.Unmarshal(e.Data, &d) == nil && d.Review != "" {
			v.Review = &d
			return true
		}
	}
	return false
}

func statementOf(d *recording.StatementData) *statementView {
	s := &statementView{Protocol: d.Protocol, Text: strings.TrimSpace(d.Text), Name: d.Name}
	if d.TextTruncated {
		s.Cut = fmt.Sprintf("cut when recorded; %d bytes in all", d.TextSize)
	}
	for i := range d.Params {
		s.Params = append(s.Params, paramText(&d.Params[i]))
	}
	return s
}

// maxBinaryShown is the longest binary parameter shown in hex.
const maxBinaryShown = 32

// paramText renders a bound parameter as the CLI does: NULL, a quoted
// text value, or a binary value in hex or by its size.
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
		s = "'" + strings.ReplaceAll(string(raw), "'", "''") + "'"
	case len(raw) <= maxBinaryShown:
		s = fmt.Sprintf("<binary %x>", raw)
	default:
		s = fmt.Sprintf("<binary, %d bytes>", p.Size)
	}
	if p.Truncated {
		s += fmt.Sprintf(" (cut; %d bytes in all)", p.Size)
	}
	return s
}

func resultOf(d *recording.ResultData) *resultView {
	v := &resultView{Statement: d.Statement, Tag: d.Tag, Rows: d.Rows, Masked: d.Masked,
		Duration: time.Duration(d.DurationMS * float64(time.Millisecond)).Round(time.Microsecond).String()}
	if d.Error != nil {
		v.Error = fmt.Sprintf("%s %s: %s", d.Error.Severity, d.Error.Code, d.Error.Message)
	}
	if len(d.Columns) == 0 {
		return v
	}
	v.Columns = d.Columns
	for _, row := range d.Sample {
		cells := make([]cellView, len(d.Columns))
		for i := range cells {
			if i < len(row) {
				cells[i] = sampleValue(row[i])
			}
		}
		v.Sample = append(v.Sample, cells)
	}
	if d.SampleTruncated {
		if int64(len(d.Sample)) < d.Rows {
			v.Kept = fmt.Sprintf("%d of %d rows kept", len(d.Sample), d.Rows)
		} else {
			v.Kept = "some rows not kept"
		}
	}
	return v
}

// sampleValue renders one kept value.
func sampleValue(raw json.RawMessage) cellView {
	c := recording.DecodeCell(raw)
	switch {
	case c.Null:
		return cellView{Text: "NULL", Null: true}
	case c.Bad:
		return cellView{Text: "?", Note: true}
	case c.Binary:
		return cellView{Text: fmt.Sprintf("<binary, %d bytes>", c.Size), Note: true}
	}
	return cellView{Text: string(c.Data), Cut: c.Truncated}
}
