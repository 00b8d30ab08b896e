package postgres

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/jackc/pgx/v5/pgproto3"
)

// kindMaskDescribe is a Describe of a portal that the engine sends before
// an Execute so that it knows the columns of the rows to mask; its answer
// goes no further than the engine.
const kindMaskDescribe = 'x'

// stringBytes returns the bytes of s without copying; the caller must not
// modify them.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// maskStatement masks, for the recording only, what the detectors find in
// the statement's text and parameters. The target gets them as sent.
func (r *relay) maskStatement() {
	m := r.mk.m
	if !m.HasDetectors() {
		return
	}
	r.shits.Reset()
	r.smask = r.smask[:0]
	if r.st.Text != "" {
		out, changed, isNull := m.Text(r.smask, stringBytes(r.st.Text), &r.shits)
		switch {
		case isNull:
			r.st.Text = "[REDACTED]"
		case changed:
			r.st.Text = string(out[len(r.smask):])
		}
	}
	if len(r.st.Params) > 0 {
		// A copy: the portal keeps the parameters as sent.
		r.sparams = append(r.sparams[:0], r.st.Params...)
		for i := range r.sparams {
			v := &r.sparams[i]
			if v.Null || len(v.Data) == 0 {
				continue
			}
			start := len(r.smask)
			out, changed, isNull := m.Text(r.smask, v.Data, &r.shits)
			switch {
			case isNull:
				r.smask = append(r.smask, "[REDACTED]"...)
				v.Data = r.smask[start:len(r.smask):len(r.smask)]
			case changed:
				r.smask = out
				v.Data = r.smask[start:len(r.smask):len(r.smask)]
			}
		}
		r.st.Params = r.sparams
	}
	r.st.Masked = appendHits(r.shitList[:0], &r.shits)
	r.shitList = r.st.Masked
}

func appendHits(dst []mask.Hit, h *mask.Hits) []mask.Hit {
	if h.Total() == 0 {
		return dst[:0]
	}
	for hit := range h.All() {
		dst = append(dst, hit)
	}
	h.Reset()
	return dst
}

// describePortal sends a Describe of the portal about to be executed.
func (r *relay) describePortal() error {
	r.push(pending{kind: kindMaskDescribe})
	name := r.st.Portal
	var hdr [6]byte
	hdr[0] = 'D'
	putUint32(hdr[1:], uint32(4+1+len(name)+1))
	hdr[5] = 'P'
	r.tw.Write(hdr[:])
	r.tw.WriteString(name)
	if err := r.tw.WriteByte(0); err != nil {
		return fmt.Errorf("write to target: %w", err)
	}
	return nil
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// maskDescription plans masking from a RowDescription that announces rows:
// the answer to the engine's own Describe, which it keeps to itself, or a
// simple Query's. It reports whether it dealt with the message.
func (r *relay) maskDescription() (bool, error) {
	p, ok := r.front()
	injected := ok && p.kind == kindMaskDescribe
	if !injected && !(ok && p.kind == kindQuery && r.tr.typ == 'T') {
		return false, nil
	}
	if r.tr.typ == 'n' {
		r.pop()
		r.mk.ready = false
		if r.smp != nil {
			r.smp.noRows()
		}
		return true, nil
	}
	body, err := r.tr.body()
	if err != nil {
		return true, fmt.Errorf("read from target: %w", err)
	}
	if err := r.mk.planRows(r.ctx, body); err != nil {
		// Nothing of this message went out: the client can be told.
		r.atBoundary = true
		return true, &sessionEnd{public: errMaskUnavailable, cause: fmt.Errorf("plan masking: %w", err)}
	}
	if r.smp != nil {
		// planRows read it already: a malformed one does not get here.
		r.smp.describe(body)
	}
	if injected {
		r.pop()
		return true, nil
	}
	return true, r.writeClient(body)
}

// maskedRow forwards a DataRow with its values masked.
func (r *relay) maskedRow() error {
	k := r.mk
	if !k.ready {
		return &sessionEnd{public: errMaskUnavailable, cause: errors.New("mask: a DataRow came without a RowDescription")}
	}
	if !k.anyOn {
		if r.smp != nil {
			return r.keptRow()
		}
		return r.forwardClient()
	}
	body, err := r.tr.body()
	if err != nil {
		return fmt.Errorf("read from target: %w", err)
	}
	out, err := k.maskRow(body)
	if err != nil {
		return &sessionEnd{public: errMaskUnavailable, cause: fmt.Errorf("mask: %w", err)}
	}
	if r.smp != nil && r.smp.want() {
		r.smp.row(out)
	}
	if len(out) == len(body) && (len(out) == 0 || &out[0] == &body[0]) {
		return r.writeClient(body)
	}
	return r.writeClientMsg('D', out)
}

// maskComplete ends the rows of a statement at its CommandComplete. It
// reports done when it answered the client itself: a COPY TO whose rows
// could not be masked ends with an error instead.
func (r *relay) maskComplete() (bool, error) {
	k := r.mk
	k.ready = false
	if isDDL(r.cc.CommandTag) {
		k.planned = false
		if k.cfg.Invalidate != nil {
			k.cfg.Invalidate()
		}
	}
	if !k.copyOut {
		return false, nil
	}
	k.copyOut, k.copyPlan = false, nil
	if !k.copySuppress {
		return false, nil
	}
	k.copySuppress = false
	r.resErr = *errCopyNotMasked
	if err := r.result("", &r.resErr); err != nil {
		return true, err
	}
	if _, err := r.cw.Write(errCopyNotMasked.appendTo(k.msg[:0])); err != nil {
		return true, fmt.Errorf("write to client: %w", err)
	}
	return true, nil
}

// isDDL reports a command tag after which table and column names may have
// changed: DDL, and DO and CALL, whose code may run DDL. DDL run by a
// function called from a query is seen only when the caches expire
// (columnsTTL, replanAfter).
func isDDL(tag []byte) bool {
	return bytes.HasPrefix(tag, []byte("ALTER ")) || bytes.HasPrefix(tag, []byte("DROP ")) ||
		bytes.HasPrefix(tag, []byte("CREATE ")) || bytes.Equal(tag, []byte("DO")) ||
		bytes.Equal(tag, []byte("CALL")) || bytes.HasPrefix(tag, []byte("IMPORT FOREIGN SCHEMA"))
}

// maskOther masks COPY TO rows, notices and notification payloads.
func (r *relay) maskOther() error {
	k := r.mk
	switch r.tr.typ {
	case 'H':
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		k.copyOut, k.copyPlan = true, nil
		n, text, err := copyColumns(body)
		switch {
		case err != nil || !text:
			// A binary COPY cannot be rewritten in place.
			k.copySuppress = true
		case k.m.HasColumns():
			// Column rules need to know which column each field is.
			p, _ := r.front()
			if p.seq != k.copySeq {
				k.copySeq, k.copyIdx = p.seq, 0
			}
			idx := k.copyIdx
			k.copyIdx++
			var spec *CopySpec
			if k.cfg.Copy != nil {
				spec, err = k.cfg.Copy(r.ctx, p.text, idx)
			}
			if err == nil {
				k.copyPlan, err = k.planCopy(spec, n)
			}
			k.copySuppress = err != nil
		}
		if k.copySuppress {
			return nil
		}
		if r.smp != nil {
			r.smp.copyStart(text)
		}
		return r.writeClient(body)
	case 'd':
		if !k.copyOut {
			return r.forwardClient()
		}
		if k.copySuppress {
			return nil // skipped by the next read
		}
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		if k.copyPlan != nil {
			out, err := k.maskCopyFields(k.copyPlan, body)
			if err != nil {
				// The COPY ends with an error at its CommandComplete.
				k.copySuppress = true
				return nil
			}
			return r.sendCopyData(out)
		}
		out, ok := k.maskCopyRow(body)
		switch {
		case !ok:
			// A null transform: the row has no value to null. The COPY
			// ends with an error at its CommandComplete.
			k.copySuppress = true
			return nil
		}
		return r.sendCopyData(out)
	case 'c':
		if k.copyOut && k.copySuppress {
			return nil
		}
		return r.forwardClient()
	case 'N':
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		if err := r.nr.Decode(body); err != nil {
			return fmt.Errorf("target sent a malformed NoticeResponse: %w", err)
		}
		if k.maskError((*pgproto3.ErrorResponse)(&r.nr)) {
			return r.writeEncoded(&r.nr)
		}
		return r.writeClient(body)
	case 'S':
		// A run-time parameter can carry a value out: set_config with a
		// card number as application_name.
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		if err := r.ps.Decode(body); err != nil {
			return fmt.Errorf("target sent a malformed ParameterStatus: %w", err)
		}
		if k.maskFields("", "", &r.ps.Value) {
			return r.writeEncoded(&r.ps)
		}
		return r.writeClient(body)
	case 'A':
		body, err := r.tr.body()
		if err != nil {
			return fmt.Errorf("read from target: %w", err)
		}
		if err := r.an.Decode(body); err != nil {
			return fmt.Errorf("target sent a malformed NotificationResponse: %w", err)
		}
		if k.maskFields("", "", &r.an.Payload) {
			return r.writeEncoded(&r.an)
		}
		return r.writeClient(body)
	}
	return r.forwardClient()
}

// writeEncoded sends msg, encoded anew, to the client.
func (r *relay) writeEncoded(msg pgproto3.BackendMessage) error {
	var err error
	if r.mk.msg, err = msg.Encode(r.mk.msg[:0]); err != nil {
		return fmt.Errorf("encode %T: %w", msg, err)
	}
	if _, err := r.cw.Write(r.mk.msg); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}

// writeClientMsg sends a message of type typ with body to the client.
func (r *relay) writeClientMsg(typ byte, body []byte) error {
	var hdr [5]byte
	hdr[0] = typ
	putUint32(hdr[1:], uint32(len(body)+4))
	if _, err := r.cw.Write(hdr[:]); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	if _, err := r.cw.Write(body); err != nil {
		return fmt.Errorf("write to client: %w", err)
	}
	return nil
}

// maskError masks the text fields of an ErrorResponse or NoticeResponse.
func (k *masker) maskError(e *pgproto3.ErrorResponse) bool {
	return k.maskFields(e.SchemaName, e.TableName, &e.Message, &e.Detail, &e.Hint,
		&e.Where, &e.InternalQuery, &e.ColumnName, &e.ConstraintName, &e.DataTypeName,
		&e.SchemaName, &e.TableName, &e.Routine, &e.File)
}

// endResult marks the end of a statement's rows.
func (k *masker) endResult() {
	k.ready = false
}

// takeHits returns what masking fired since the last call, in a slice
// reused by the next call.
func (k *masker) takeHits() []mask.Hit {
	k.hitList = appendHits(k.hitList[:0], &k.hits)
	return k.hitList
}

// maskFunctionResult masks what the detectors find in the value of a
// FunctionCallResponse (lo_read of a large object, for one) and records
// the result. The value keeps its format: masked text is valid bytea and
// text, and what a detector finds in other types is text anyway.
func (r *relay) maskFunctionResult() error {
	body, err := r.tr.body()
	if err != nil {
		return fmt.Errorf("read from target: %w", err)
	}
	k := r.mk
	out := body
	if k.m.HasDetectors() && len(body) >= 4 {
		l := int32(binary.BigEndian.Uint32(body))
		if l >= 0 && int(l) == len(body)-4 {
			masked, changed, isNull := k.m.Text(k.mval[:0], body[4:], &k.hits)
			k.mval = masked
			switch {
			case isNull:
				out = binary.BigEndian.AppendUint32(k.mout[:0], 0xFFFFFFFF)
				k.mout = out
			case changed:
				out = binary.BigEndian.AppendUint32(k.mout[:0], uint32(len(masked)))
				out = append(out, masked...)
				k.mout = out
			}
		}
	}
	if err := r.result("", nil); err != nil {
		return err
	}
	if len(out) == len(body) && (len(out) == 0 || &out[0] == &body[0]) {
		return r.writeClient(body)
	}
	return r.writeClientMsg('V', out)
}
