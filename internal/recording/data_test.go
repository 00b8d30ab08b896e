package recording_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/recording"
)

func TestObject(t *testing.T) {
	tests := []struct {
		name  string
		build func(o *recording.Object)
		want  string
	}{
		{"empty", func(o *recording.Object) {}, `{}`},
		{"fields", func(o *recording.Object) {
			o.String("sql", "select \"a\"\n\tfrom t -- ü")
			o.Int("rows", -42)
			o.Bool("masked", true)
			o.Strings("params", []string{"1", "x\\y"})
			o.Strings("none", nil)
			o.Raw("decision", json.RawMessage(`{"action":"allow"}`))
		}, `{"sql":"select \"a\"\n\tfrom t -- ü","rows":-42,"masked":true,"params":["1","x\\y"],"none":null,"decision":{"action":"allow"}}`},
		{"control characters", func(o *recording.Object) { o.String("k\x00", "\x01\x1f") }, `{"k\u0000":"\u0001\u001f"}`},
		{"invalid UTF-8", func(o *recording.Object) { o.String("s", "a\xffb\xc3") }, `{"s":"a\ufffdb\ufffd"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o recording.Object
			tt.build(&o)
			got := o.JSON()
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
			// Compact, so the hash survives any later re-encoding.
			c := recording.NewChain("s")
			if e := c.Next(t0, recording.TypeStatement, got); string(e.Data) != string(got) {
				t.Errorf("Chain changed the data to %s", e.Data)
			}
		})
	}
}

func TestObjectReuse(t *testing.T) {
	var o recording.Object
	o.String("a", "1")
	first := string(o.JSON())
	o.Int("b", 2) // more fields after JSON
	if got, want := string(o.JSON()), `{"a":"1","b":2}`; got != want {
		t.Errorf("got %s, want %s (first was %s)", got, want, first)
	}
	o.Reset()
	if got := string(o.JSON()); got != "{}" {
		t.Errorf("after Reset got %s, want {}", got)
	}
	sql := strings.Repeat("select 1; ", 20)
	allocs := testing.AllocsPerRun(100, func() {
		o.Reset()
		o.String("sql", sql)
		o.Int("rows", 1)
		o.JSON()
	})
	if allocs != 0 {
		t.Errorf("reused Object allocates %.1f times, want 0", allocs)
	}
}

func FuzzObjectString(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, value string) {
		var o recording.Object
		o.String(key, value)
		var m map[string]string
		if err := json.Unmarshal(o.JSON(), &m); err != nil {
			t.Fatalf("Object made invalid JSON %s: %v", o.JSON(), err)
		}
		if utf8.ValidString(key) && utf8.ValidString(value) && m[key] != value {
			t.Fatalf("round trip: got %q, want %q", m[key], value)
		}
	})
}
