package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
)

// rowDescription encodes a RowDescription body for columns of the given
// type OIDs and formats, named c0, c1, ...; tables are 0 (computed).
func rowDescription(types []uint32, formats []int16) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(types)))
	for i, typ := range types {
		b = append(b, 'c', byte('0'+i%10), 0)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint16(b, 0)
		b = binary.BigEndian.AppendUint32(b, typ)
		b = binary.BigEndian.AppendUint16(b, 0xFFFF)
		b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
		b = binary.BigEndian.AppendUint16(b, uint16(formats[i]))
	}
	return b
}

func dataRow(vals ...[]byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(vals)))
	for _, v := range vals {
		if v == nil {
			b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
			continue
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return b
}

func testMasker(t testing.TB) *masker {
	m, err := mask.Compile(map[string]mask.Profile{"p": {
		Columns: []mask.ColumnRule{{Match: "c1"}},
		Detect:  []string{"credit_card", "email", "us_ssn", "phone", "ipv4"},
	}}, []string{"p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &masker{cfg: &Masking{Masker: m}, m: m}
	// text, a column rule, jsonb binary, int8 binary, numeric binary, bytea
	// text, int4
	types := []uint32{oidText, oidText, oidJSONB, oidInt8, oidNumeric, oidBytea, oidInt4}
	formats := []int16{0, 0, 1, 1, 1, 0, 1}
	if err := k.planRows(context.Background(), rowDescription(types, formats)); err != nil {
		t.Fatal(err)
	}
	return k
}

// parseRow splits a DataRow body, failing on any framing error.
func parseRow(t *testing.T, b []byte) [][]byte {
	t.Helper()
	if len(b) < 2 {
		t.Fatalf("row too short: %x", b)
	}
	n := int(binary.BigEndian.Uint16(b))
	p := b[2:]
	var out [][]byte
	for range n {
		if len(p) < 4 {
			t.Fatalf("row truncated: %x", b)
		}
		l := int32(binary.BigEndian.Uint32(p))
		p = p[4:]
		if l < 0 {
			out = append(out, nil)
			continue
		}
		if int(l) > len(p) {
			t.Fatalf("row value overruns: %x", b)
		}
		out = append(out, p[:l])
		p = p[l:]
	}
	if len(p) != 0 {
		t.Fatalf("row has trailing bytes: %x", b)
	}
	return out
}

func TestMaskRow(t *testing.T) {
	k := testMasker(t)
	numeric := []byte{0, 4, 0, 3, 0, 0, 0, 0, 0x10, 0x92, 0x10, 0x92, 0x10, 0x92, 0x10, 0x92} // 4242424242424242
	int8Card := binary.BigEndian.AppendUint64(nil, 4242424242424242)
	row := dataRow([]byte("card 4242 4242 4242 4242 here"), []byte("anything"), append([]byte{1}, `{"e": "bob@example.com"}`...),
		int8Card, numeric, []byte(`\x6e6f7465`), []byte{0, 0, 0, 7})
	out, err := k.maskRow(row)
	if err != nil {
		t.Fatal(err)
	}
	got := parseRow(t, out)
	want := [][]byte{[]byte("card [REDACTED:credit_card] here"), []byte("[REDACTED]"), append([]byte{1}, `{"e": "[REDACTED:email]"}`...),
		nil, nil, []byte(`\x6e6f7465`), {0, 0, 0, 7}}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) || (got[i] == nil) != (want[i] == nil) {
			t.Errorf("column %d: got %q, want %q", i, got[i], want[i])
		}
	}

	// Nothing to mask in detector columns: only the rule column changes.
	clean := dataRow([]byte("nothing"), nil, append([]byte{1}, `{}`...), binary.BigEndian.AppendUint64(nil, 7), []byte{0, 0, 0, 0, 0, 0, 0, 0}, []byte(`\x00`), []byte{0, 0, 0, 1})
	out, err = k.maskRow(clean)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, clean) {
		t.Errorf("a row with nothing to mask changed: %q", out)
	}
	if _, err := k.maskRow(clean[:len(clean)-1]); err == nil {
		t.Error("a truncated row was accepted")
	}
}

func TestMaskRowAllocs(t *testing.T) {
	k := testMasker(t)
	row := dataRow([]byte("a plain value with no secrets in it"), nil, append([]byte{1}, `{"a": 1}`...),
		binary.BigEndian.AppendUint64(nil, 12), []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 5}, []byte(`\x00`), []byte{0, 0, 0, 1})
	k.maskRow(row)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := k.maskRow(row); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("maskRow allocates %.1f times per row with nothing to mask", n)
	}
}

func BenchmarkMaskRow(b *testing.B) {
	k := testMasker(b)
	row := dataRow([]byte("a plain value with no secrets in it, a little longer than most"), nil, append([]byte{1}, `{"a": 1, "b": "text"}`...),
		binary.BigEndian.AppendUint64(nil, 12), []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 5}, []byte(`\x00`), []byte{0, 0, 0, 1})
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.maskRow(row); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzMaskRow(f *testing.F) {
	f.Add(dataRow([]byte("4242 4242 4242 4242"), []byte("x"), []byte{1, '{', '}'}, make([]byte, 8), []byte{0, 0, 0, 0, 0, 0, 0, 0}, []byte(`\x41`), make([]byte, 4)))
	f.Add(dataRow(nil, nil, nil, nil, nil, nil, nil))
	f.Add([]byte{0, 7, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, row []byte) {
		k := testMasker(t)
		out, err := k.maskRow(row)
		if err != nil {
			return
		}
		vals := parseRow(t, out)
		if len(vals) != 7 {
			t.Fatalf("got %d columns, want 7", len(vals))
		}
		// What went through is masked for good: masking it again changes
		// nothing in the detector columns.
		again, err := k.maskRow(out)
		if err != nil {
			t.Fatalf("masked row rejected: %v", err)
		}
		a := parseRow(t, again)
		if !bytes.Equal(a[0], vals[0]) {
			t.Fatalf("text column not stable: %q then %q", vals[0], a[0])
		}
	})
}

func copyMasker(t testing.TB, csv bool) (*masker, *copyPlan) {
	m, err := mask.Compile(map[string]mask.Profile{"p": {
		Columns: []mask.ColumnRule{{Match: "t.secret"}, {Match: "t.gone", With: "null"}},
		Detect:  []string{"credit_card", "email"},
	}}, []string{"p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &masker{cfg: &Masking{Masker: m}, m: m}
	spec := &CopySpec{Columns: [][]ColumnName{{{Table: "t", Column: "id"}}, {{Table: "other", Column: "secret"}, {Table: "t", Column: "secret"}}, {{Table: "t", Column: "note"}}, {{Table: "t", Column: "gone"}}},
		Delim: '\t', Null: `\N`}
	if csv {
		spec.CSV, spec.Delim, spec.Null, spec.Quote, spec.Escape, spec.Header = true, ',', "", '"', '"', true
	}
	p, err := k.planCopy(spec, 4)
	if err != nil {
		t.Fatal(err)
	}
	return k, p
}

func TestMaskCopyFields(t *testing.T) {
	tests := []struct {
		csv       bool
		in, want  string
		wantError bool
	}{
		{false, "1\tx\\ty\tcard 4242 4242 4242 4242\tz\n", "1\t[REDACTED]\tcard [REDACTED:credit_card]\t\\N\n", false},
		{false, "2\t\\N\t\\N\t\\N\n", "2\t\\N\t\\N\t\\N\n", false},
		{false, "3\ta\tb\n", "", true},
		{false, "3\ta\tb\tc\td\n", "", true},
		{true, "id,secret,note,gone\n", "id,secret,note,gone\n", false},
		{true, "1,\"a,\"\"b\"\"\",\"x@example.com, ok\",z\n", "1,\"[REDACTED]\",\"[REDACTED:email], ok\",\n", false},
		{true, "2,,plain,\n", "2,,plain,\n", false},
		{true, "3,\"unterminated,x,y\n", "", true},
	}
	for _, tt := range tests {
		k, p := copyMasker(t, tt.csv)
		if tt.csv && tt.in != "id,secret,note,gone\n" {
			p.started = true
		}
		got, err := k.maskCopyFields(p, []byte(tt.in))
		if tt.wantError {
			if err == nil {
				t.Errorf("%q: no error, got %q", tt.in, got)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%q: got %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func FuzzMaskCopyFields(f *testing.F) {
	f.Add(false, []byte("1\tx\\ty\tcard 4242 4242 4242 4242\tz\n"))
	f.Add(true, []byte("1,\"a,\"\"b\"\"\",\"x@example.com, ok\",z\n"))
	f.Fuzz(func(t *testing.T, csv bool, row []byte) {
		k, p := copyMasker(t, csv)
		p.started = true
		out, err := k.maskCopyFields(p, row)
		if err != nil {
			return
		}
		// The masked row parses again into as many fields, and masking it
		// again changes no rule column.
		_, p2 := copyMasker(t, csv)
		p2.started = true
		again, err := k.maskCopyFields(p2, bytes.Clone(out))
		if err != nil {
			t.Fatalf("masked row %q does not parse: %v", out, err)
		}
		if len(again) == 0 || again[len(again)-1] != '\n' {
			t.Fatalf("masked row %q lost its newline", again)
		}
	})
}

func FuzzScanBinary(f *testing.F) {
	f.Add(uint32(1016), []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0x0f, 0x12, 0x76, 0x5d, 0xf4, 0xc9, 0xb2})
	f.Add(uint32(2249), []byte{0, 0, 0, 1, 0, 0, 0, 25, 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, typ uint32, v []byte) {
		k := testMasker(t)
		k.scanBinary(typ, v, 0)
	})
}

func TestScanBinaryArrayOfCards(t *testing.T) {
	k := testMasker(t)
	// int8[] {4242424242424242} and record (int8) in binary form.
	arr := []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0x0f, 0x12, 0x76, 0x5d, 0xf4, 0xc9, 0xb2}
	if !k.scanBinary(1016, arr, 0) {
		t.Error("a card number in a binary int8 array was not found")
	}
	rec := append([]byte{0, 0, 0, 1, 0, 0, 0, 20, 0, 0, 0, 8}, 0, 0x0f, 0x12, 0x76, 0x5d, 0xf4, 0xc9, 0xb2)
	if !k.scanBinary(2249, rec, 0) {
		t.Error("a card number in a binary record was not found")
	}
	if k.scanBinary(1016, []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 7}, 0) {
		t.Error("an int8 array holding 7 was flagged")
	}
}
