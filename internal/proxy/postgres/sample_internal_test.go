package postgres

import (
	"encoding/binary"
	"testing"
)

func TestSamplerBinaryValues(t *testing.T) {
	const (
		oidInt4      = 23
		oidNumeric   = 1700
		oidUUID      = 2950
		oidInt4Array = 1007
		oidUnknownT  = 999999
	)
	m := &sampler{lim: RowLimits{Rows: 10, Bytes: 1 << 10}}
	types := []uint32{oidInt4, oidNumeric, oidUUID, oidInt4Array, oidUnknownT, oidInt4}
	if err := m.describe(rowDescription(types, []int16{1, 1, 1, 1, 1, 1})); err != nil {
		t.Fatal(err)
	}
	uuid := []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}
	// int4[] {7}: ndim 1, no nulls, elem int4, dim 1 from 1, one element.
	arr := []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 7}
	// numeric 12.5: 2 digits, weight 0, positive, dscale 1: 12, 5000.
	num := []byte{0, 2, 0, 0, 0, 0, 0, 1, 0, 12, 0x13, 0x88}
	if !m.want() {
		t.Fatal("want = false on an empty sample")
	}
	m.row(dataRow(binary.BigEndian.AppendUint32(nil, 42), num, uuid, arr, []byte{1, 2, 3}, []byte{1}))
	got := m.take()
	if got == nil || got.Len() != 1 {
		t.Fatalf("sample %+v", got)
	}
	want := []struct {
		text   string
		format int16
	}{{"42", 0}, {"12.5", 0}, {"12345678-9abc-def0-1234-56789abcdef0", 0}, {"{7}", 0}, {"\x01\x02\x03", 1}, {"\x01", 1}}
	for i, v := range got.Row(0) {
		if string(v.Data) != want[i].text || v.Format != want[i].format {
			t.Errorf("column %d: %q format %d, want %q format %d", i, v.Data, v.Format, want[i].text, want[i].format)
		}
	}
	m.reset()
	if m.take() != nil {
		t.Error("sample after reset")
	}
}

func FuzzSampler(f *testing.F) {
	f.Add(rowDescription([]uint32{23, 25, 1700}, []int16{1, 0, 1}), dataRow([]byte{0, 0, 0, 1}, []byte("x"), []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 5}), uint16(3))
	f.Add(rowDescription([]uint32{1114, 1184, 3802, 1007}, []int16{1, 1, 1, 1}), dataRow(make([]byte, 8), make([]byte, 8), []byte{1, '{', '}'}, []byte{0, 0, 0, 0}), uint16(100))
	f.Add([]byte{0, 1}, []byte{0, 1, 0xFF, 0xFF, 0xFF, 0xFF}, uint16(0))
	f.Fuzz(func(t *testing.T, desc, row []byte, budget uint16) {
		m := &sampler{lim: RowLimits{Rows: 3, Bytes: int(budget)}}
		if m.describe(desc) != nil {
			return
		}
		for range 4 {
			if m.want() {
				m.row(row)
			}
		}
		s := m.take()
		if s == nil {
			return
		}
		kept := 0
		for _, v := range s.Values {
			kept += len(v.Data)
			if len(v.Data) > MaxValueLen || (!v.Null && !v.Truncated && v.Format == 1 && len(v.Data) != v.Size) {
				t.Fatalf("value %+v", v)
			}
		}
		if kept > int(budget) || s.Len() > 3 || len(s.Values)%max(len(s.Columns), 1) != 0 {
			t.Fatalf("kept %d bytes in %d rows, budget %d", kept, s.Len(), budget)
		}
	})
}
