package console

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Recorded event payloads, decoded leniently: a field that does not decode
// leaves the event shown as its raw JSON.
type (
	startData struct {
		Identity    string   `json:"identity"`
		Groups      []string `json:"groups"`
		Connection  string   `json:"connection"`
		Database    string   `json:"database"`
		ClientAddr  string   `json:"client_addr"`
		Application string   `json:"application_name"`
		Policy      string   `json:"policy"`
		Connector   string   `json:"connector"`
		Protocol    string   `json:"protocol"`
	}
	statementData struct {
		Protocol      string      `json:"protocol"`
		Text          string      `json:"text"`
		TextSize      int         `json:"text_size"`
		TextTruncated bool        `json:"text_truncated"`
		Name          string      `json:"name"`
		Params        []paramData `json:"params"`
	}
	// paramData is a bound parameter: a text-format value in Text, a
	// binary one in Base64 (older recordings: either in Data).
	paramData struct {
		Null      bool            `json:"null"`
		Format    int             `json:"format"`
		Text      string          `json:"text"`
		Base64    string          `json:"base64"`
		Data      json.RawMessage `json:"data"`
		Truncated bool            `json:"truncated"`
		Size      int             `json:"size"`
	}
	resultData struct {
		Statement  uint64  `json:"statement"`
		Tag        string  `json:"tag"`
		Rows       int64   `json:"rows"`
		DurationMS float64 `json:"duration_ms"`
		Error      *struct {
			Severity string `json:"severity"`
			Code     string `json:"code"`
			Message  string `json:"message"`
		} `json:"error"`
		Masked          []maskedData        `json:"masked"`
		Columns         []string            `json:"columns"`
		Sample          [][]json.RawMessage `json:"sample"`
		SampleTruncated bool                `json:"sample_truncated"`
	}
	endData struct {
		Reason     string       `json:"reason"`
		Statements int64        `json:"statements"`
		Error      string       `json:"error"`
		Masked     []maskedData `json:"masked"`
	}
	reviewEventData struct {
		Review     string   `json:"review"`
		Status     string   `json:"status"`
		Approvers  []string `json:"approvers"`
		ApprovedBy []string `json:"approved_by"`
		RejectedBy []string `json:"rejected_by"`
	}
	// maskedData counts what one masking rule replaced.
	maskedData struct {
		Rule   string `json:"rule"`
		Column bool   `json:"column"`
		Count  int    `json:"count"`
	}
)

// eventView is one line of a session's timeline. Exactly one of the
// payload fields is set; Raw when the payload is of no known shape.
type eventView struct {
	Seq       uint64
	Offset    string
	Time      time.Time
	Type      string
	Start     *startData
	Statement *statementView
	Result    *resultView
	End       *endData
	Review    *reviewEventData
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
	Masked    []maskedData
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
		var d startData
		if json.Unmarshal(e.Data, &d) == nil {
			v.Start = &d
			return true
		}
	case recording.TypeStatement:
		var d statementData
		if json.Unmarshal(e.Data, &d) == nil {
			v.Statement = statementOf(&d)
			return true
		}
	case recording.TypeResult:
		var d resultData
		if json.Unmarshal(e.Data, &d) == nil {
			v.Result = resultOf(&d)
			return true
		}
	case recording.TypeSessionEnd:
		var d endData
		if json.Unmarshal(e.Data, &d) == nil {
			v.End = &d
			return true
		}
	case recording.TypeReviewHeld, recording.TypeReviewDecided:
		var d reviewEventData
		if json.Unmarshal(e.Data, &d) == nil && d.Review != "" {
			v.Review = &d
			return true
		}
	}
	return false
}

func statementOf(d *statementData) *statementView {
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
func paramText(p *paramData) string {
	if p.Null {
		return "NULL"
	}
	text := p.Text
	switch {
	case p.Base64 != "":
		raw, err := base64.StdEncoding.DecodeString(p.Base64)
		if err != nil {
			return "<undecodable>"
		}
		text = string(raw)
	case len(p.Data) > 0:
		if json.Unmarshal(p.Data, &text) != nil {
			text = string(p.Data)
		}
	}
	var s string
	switch {
	case p.Format == 0:
		s = "'" + strings.ReplaceAll(text, "'", "''") + "'"
	case len(text) <= maxBinaryShown:
		s = fmt.Sprintf("<binary %x>", text)
	default:
		s = fmt.Sprintf("<binary, %d bytes>", p.Size)
	}
	if p.Truncated {
		s += fmt.Sprintf(" (cut; %d bytes in all)", p.Size)
	}
	return s
}

func resultOf(d *resultData) *resultView {
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

// sampleValue decodes one kept value: null, a string, or an object with
// text or base64, format (binary when not 0), size and truncated.
func sampleValue(raw json.RawMessage) cellView {
	if string(raw) == "null" {
		return cellView{Text: "NULL", Null: true}
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return cellView{Text: text}
	}
	var v struct {
		Text      *string `json:"text"`
		Base64    string  `json:"base64"`
		Format    int     `json:"format"`
		Size      int     `json:"size"`
		Truncated bool    `json:"truncated"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return cellView{Text: "?", Note: true}
	}
	switch {
	case v.Text != nil:
		return cellView{Text: *v.Text, Cut: v.Truncated}
	case v.Format == 0:
		b, _ := base64.StdEncoding.DecodeString(v.Base64)
		return cellView{Text: string(b), Cut: v.Truncated}
	}
	return cellView{Text: fmt.Sprintf("<binary, %d bytes>", v.Size), Note: true}
}
