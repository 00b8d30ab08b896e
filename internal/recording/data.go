package recording

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Object builds an event's Data, a compact JSON object, field by field
// without reflection, into a buffer it reuses after Reset. The zero value is
// an empty object ready to use. Keys are written as given and should be
// unique.
type Object struct {
	b []byte
}

// Reset empties o, keeping its buffer.
func (o *Object) Reset() { o.b = o.b[:0] }

func (o *Object) key(k string) {
	if len(o.b) == 0 {
		o.b = append(o.b, '{')
	} else {
		o.b = append(o.b, ',')
	}
	o.b = appendJSONStringLossy(o.b, k)
	o.b = append(o.b, ':')
}

// String adds a string field. Bytes that are not valid UTF-8 are recorded
// as U+FFFD, as encoding/json does.
func (o *Object) String(key, value string) {
	o.key(key)
	o.b = appendJSONStringLossy(o.b, value)
}

// Strings adds an array of strings (null for a nil slice).
func (o *Object) Strings(key string, values []string) {
	o.key(key)
	if values == nil {
		o.b = append(o.b, "null"...)
		return
	}
	o.b = append(o.b, '[')
	for i, v := range values {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = appendJSONStringLossy(o.b, v)
	}
	o.b = append(o.b, ']')
}

// Int adds an integer field.
func (o *Object) Int(key string, value int64) {
	o.key(key)
	o.b = strconv.AppendInt(o.b, value, 10)
}

// Bool adds a boolean field.
func (o *Object) Bool(key string, value bool) {
	o.key(key)
	o.b = strconv.AppendBool(o.b, value)
}

// Raw adds a field whose value is already compact JSON. An invalid value
// makes the whole object invalid, which Spool.Append then refuses.
func (o *Object) Raw(key string, value json.RawMessage) {
	o.key(key)
	o.b = append(o.b, value...)
}

// JSON returns the object. It aliases o's buffer: it is valid until o is
// next changed (a field added, or Reset), so the event made from it must be
// appended to the spool, which copies it, before o is changed or reused.
func (o *Object) JSON() json.RawMessage {
	if len(o.b) == 0 {
		return json.RawMessage("{}")
	}
	o.b = append(o.b, '}')
	j := o.b
	o.b = o.b[:len(o.b)-1] // more fields may follow
	return j
}

// AppendString appends s to b as a JSON string, replacing bytes that are
// not valid UTF-8 by U+FFFD, for data built outside an Object.
func AppendString(b []byte, s string) []byte { return appendJSONStringLossy(b, s) }

// appendJSONStringLossy appends s as a JSON string, replacing bytes that are
// not valid UTF-8 by U+FFFD.
func appendJSONStringLossy(b []byte, s string) []byte {
	if utf8.ValidString(s) {
		return appendJSONString(b, s)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = appendJSONChars(b, s[start:i])
			b = append(b, `\ufffd`...)
			start = i + 1
		}
		i += size
	}
	b = appendJSONChars(b, s[start:])
	return append(b, '"')
}
