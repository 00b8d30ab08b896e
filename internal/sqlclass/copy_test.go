package sqlclass

import (
	"reflect"
	"testing"
)

func TestCopyTargets(t *testing.T) {
	tests := []struct {
		sql  string
		want []CopyOut
	}{
		{"COPY customers TO STDOUT", []CopyOut{{Table: "customers", Options: map[string]string{}}}},
		{`copy app."Cust" (id, "E mail") to stdout with (format csv, header, delimiter ';')`,
			[]CopyOut{{Schema: "app", Table: "Cust", Columns: []string{"id", "E mail"}, Options: map[string]string{"format": "csv", "header": "true", "delimiter": ";"}}}},
		{"COPY customers TO STDOUT CSV HEADER", []CopyOut{{Table: "customers", Options: map[string]string{"format": "csv", "header": "true"}}}},
		{"COPY (SELECT 1) TO STDOUT; COPY t FROM STDIN; COPY u TO STDOUT (NULL 'x')",
			[]CopyOut{{Query: true, Options: map[string]string{}}, {Table: "u", Options: map[string]string{"null": "x"}}}},
		{"SELECT 1", nil},
	}
	for _, tt := range tests {
		got, err := CopyTargets(tt.sql)
		if err != nil {
			t.Fatalf("%s: %v", tt.sql, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tt.sql, got, tt.want)
		}
	}
}
