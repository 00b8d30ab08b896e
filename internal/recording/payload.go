package recording

import (
	"encoding/base64"
	"encoding/json"
)

// The payloads of a database session's events as the connector writes
// them, for readers (the CLI, the console). Readers decode leniently: an
// event whose payload does not decode is shown as its raw JSON.
type (
	// StartData is a TypeSessionStart payload.
	StartData struct {
		Identity    string   `json:"identity"`
		Groups      []string `json:"groups,omitempty"`
		Connection  string   `json:"connection"`
		Database    string   `json:"database,omitempty"`
		ClientAddr  string   `json:"client_addr,omitempty"`
		Application string   `json:"application_name,omitempty"`
		Policy      string   `json:"policy"`
		Connector   string   `json:"connector"`
		Protocol    string   `json:"protocol"`
	}

	// StatementData is a TypeStatement payload.
	StatementData struct {
		Protocol      string      `json:"protocol"`
		Text          string      `json:"text"`
		TextSize      int         `json:"text_size,omitempty"`
		TextTruncated bool        `json:"text_truncated,omitempty"`
		Name          string      `json:"name,omitempty"`
		Portal        string      `json:"portal,omitempty"`
		Params        []ParamData `json:"params,omitempty"`
	}

	// ParamData is a bound parameter: a text-format value in Text, a
	// binary one (or text that is not UTF-8) in Base64; older recordings
	// hold either in Data.
	ParamData struct {
		Null      bool            `json:"null,omitempty"`
		Format    int             `json:"format,omitempty"`
		Text      string          `json:"text,omitempty"`
		Base64    string          `json:"base64,omitempty"`
		Data      json.RawMessage `json:"data,omitempty"`
		Truncated bool            `json:"truncated,omitempty"`
		Size      int             `json:"size"`
	}

	// ResultData is a TypeResult payload.
	ResultData struct {
		// Statement is the 1-based number of the statement (among the
		// session's statement events) this result belongs to, when the
		// recorder wrote it.
		Statement  uint64       `json:"statement,omitempty"`
		Tag        string       `json:"tag"`
		Rows       int64        `json:"rows"`
		DurationMS float64      `json:"duration_ms"`
		Error      *ErrorData   `json:"error"`
		Masked     []MaskedData `json:"masked"`
		// Columns, Types and Sample are the first rows the client
		// received, masked, as far as the connection's limits kept them;
		// DecodeCell reads each value of Sample.
		Columns         []string            `json:"columns,omitempty"`
		Types           []uint32            `json:"types,omitempty"`
		Sample          [][]json.RawMessage `json:"sample,omitempty"`
		SampleTruncated bool                `json:"sample_truncated,omitempty"`
	}

	// ErrorData is the error a statement ended with.
	ErrorData struct {
		Severity string `json:"severity"`
		Code     string `json:"code"`
		Message  string `json:"message"`
	}

	// EndData is a TypeSessionEnd payload.
	EndData struct {
		Reason     string       `json:"reason"`
		Statements int64        `json:"statements"`
		Error      string       `json:"error"`
		Masked     []MaskedData `json:"masked"`
	}

	// MaskedData counts what one masking rule replaced.
	MaskedData struct {
		Rule   string `json:"rule"`
		Column bool   `json:"column"`
		Count  int    `json:"count"`
	}

	// ReviewData is a TypeReviewHeld or TypeReviewDecided payload.
	ReviewData struct {
		Review     string   `json:"review"`
		Status     string   `json:"status"`
		Approvers  []string `json:"approvers"`
		ApprovedBy []string `json:"approved_by"`
		RejectedBy []string `json:"rejected_by"`
	}
)

// Value returns the parameter's bytes as recorded; ok is false when they
// do not decode.
func (p *ParamData) Value() (b []byte, ok bool) {
	switch {
	case p.Base64 != "":
		raw, err := base64.StdEncoding.DecodeString(p.Base64)
		return raw, err == nil
	case len(p.Data) > 0:
		var s string
		if json.Unmarshal(p.Data, &s) != nil {
			return p.Data, true
		}
		return []byte(s), true
	}
	return []byte(p.Text), true
}

// Cell is one kept result value.
type Cell struct {
	Null bool
	// Data is the value as recorded: text when Binary is false.
	Data      []byte
	Binary    bool
	Size      int  // the value's full size, when it was recorded
	Truncated bool // Data holds only the start of the value
	Bad       bool // the recorded value does not decode
}

// DecodeCell reads one value of ResultData.Sample: null, a string, or an
// object with text or base64, format (binary when not 0), size and
// truncated.
func DecodeCell(raw json.RawMessage) Cell {
	if string(raw) == "null" {
		return Cell{Null: true}
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return Cell{Data: []byte(text), Size: len(text)}
	}
	var v struct {
		Text      *string `json:"text"`
		Base64    string  `json:"base64"`
		Format    int     `json:"format"`
		Size      int     `json:"size"`
		Truncated bool    `json:"truncated"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return Cell{Bad: true}
	}
	c := Cell{Size: v.Size, Truncated: v.Truncated, Binary: v.Format != 0}
	if v.Text != nil {
		c.Data = []byte(*v.Text)
		return c
	}
	b, err := base64.StdEncoding.DecodeString(v.Base64)
	if err != nil {
		return Cell{Bad: true}
	}
	c.Data = b
	return c
}
