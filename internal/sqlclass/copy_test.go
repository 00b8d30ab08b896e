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
			[]CopyOut{{Query: true, QueryText: "SELECT 1", Options: map[string]string{}}, {Table: "u", Options: map[string]string{"null": "x"}}}},
		{`COPY (WITH c AS (SELECT ssn, "E" FROM app.customers) SELECT * FROM c WHERE ssn <> 'x;y') TO STDOUT (FORMAT csv)`,
			[]CopyOut{{Query: true, QueryText: `WITH c AS (SELECT ssn, "E" FROM app.customers) SELECT * FROM c WHERE ssn <> 'x;y'`, Options: map[string]string{"format": "csv"}}}},
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

// FuzzCopyTargets checks that CopyTargets never panics and that the query
// of a COPY of a query, printed back, parses as one statement.
func FuzzCopyTargets(f *testing.F) {
	for _, s := range []string{
		"COPY customers TO STDOUT",
		"COPY (SELECT 1) TO STDOUT; COPY t FROM STDIN",
		`COPY (WITH c AS (SELECT ssn FROM app.customers) SELECT * FROM c WHERE ssn <> 'x;y') TO STDOUT (FORMAT csv)`,
		`COPY (SELECT $$a$$ || E'\n', (SELECT 1) FROM t JOIN u USING (id) ORDER BY 1 LIMIT 2) TO STDOUT`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		targets, err := CopyTargets(sql)
		if err != nil {
			return
		}
		for _, c := range targets {
			if !c.Query {
				continue
			}
			tree, err := parse(c.QueryText)
			if err != nil || len(tree.GetStmts()) != 1 {
				t.Fatalf("query %q of %q does not parse back as one statement: %v", c.QueryText, sql, err)
			}
		}
	})
}
