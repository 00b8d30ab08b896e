package recording

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeCell(t *testing.T) {
	tests := []struct {
		raw  string
		want Cell
	}{
		{`null`, Cell{Null: true}},
		{`"a\"b"`, Cell{Data: []byte(`a"b`), Size: 3}},
		{`{"text":"caf","size":900,"truncated":true}`, Cell{Data: []byte("caf"), Size: 900, Truncated: true}},
		{`{"base64":"YWJj","size":3}`, Cell{Data: []byte("abc"), Size: 3}},
		{`{"base64":"AP8=","format":1,"size":2}`, Cell{Data: []byte{0, 0xff}, Binary: true, Size: 2}},
		{`{"base64":"%%%","size":2}`, Cell{Bad: true}},
		{`[1]`, Cell{Bad: true}},
	}
	for _, tt := range tests {
		if got := DecodeCell(json.RawMessage(tt.raw)); !cmp.Equal(got, tt.want) {
			t.Errorf("DecodeCell(%s) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestParamValue(t *testing.T) {
	tests := []struct {
		p    ParamData
		want string
		ok   bool
	}{
		{ParamData{Text: "42"}, "42", true},
		{ParamData{Base64: "AAAAKg==", Format: 1}, "\x00\x00\x00*", true},
		{ParamData{Base64: "!"}, "", false},
		{ParamData{Data: json.RawMessage(`"old"`)}, "old", true},
	}
	for _, tt := range tests {
		got, ok := tt.p.Value()
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("Value(%+v) = %q, %v; want %q, %v", tt.p, got, ok, tt.want, tt.ok)
		}
	}
}
