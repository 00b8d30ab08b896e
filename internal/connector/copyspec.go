package connector

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/gatehouse-dev/gatehouse/internal/sqlclass"
)

// copySpecs returns the Masking.Copy of a session: it parses the statement
// with the SQL parser to find the COPY's table, columns and options, and
// names the columns through cols.
func copySpecs(cols *postgres.Columns) func(ctx context.Context, text string, index int) (*postgres.CopySpec, error) {
	return func(ctx context.Context, text string, index int) (*postgres.CopySpec, error) {
		targets, err := sqlclass.CopyTargets(text)
		if err != nil {
			return nil, err
		}
		if index >= len(targets) {
			return nil, errors.New("the statement text has no such COPY TO STDOUT")
		}
		ct := targets[index]
		if ct.Query {
			return queryCopySpec(ctx, cols, &ct)
		}
		tables, err := cols.Tables(ctx, ct.Schema, ct.Table)
		if err != nil {
			return nil, err
		}
		spec := &postgres.CopySpec{}
		if len(ct.Columns) == 0 {
			// Without a column list the fields are the table's columns in
			// order: every candidate table must agree on them.
			for _, t := range tables[1:] {
				if !sameNames(t, tables[0]) {
					return nil, fmt.Errorf("tables named %s in several schemas differ; name the schema or the columns", ct.Table)
				}
			}
			for i := range tables[0] {
				var cands []postgres.ColumnName
				for _, t := range tables {
					cands = append(cands, t[i])
				}
				spec.Columns = append(spec.Columns, cands)
			}
		} else {
			for _, name := range ct.Columns {
				var cands []postgres.ColumnName
				for _, t := range tables {
					if i := indexColumn(t, name); i >= 0 {
						cands = append(cands, t[i])
					}
				}
				if len(cands) == 0 {
					return nil, fmt.Errorf("column %q not found in %s", name, ct.Table)
				}
				spec.Columns = append(spec.Columns, cands)
			}
		}
		return spec, copyOptions(spec, ct.Options)
	}
}

// queryCopySpec names the fields of a COPY of a query by describing the
// query on the catalog connection. That connection resolves table names on
// its own search path, not the session's, so every table the query names
// without a schema must be the only one of that name in the database (or
// none: a CTE, or a table of the session's own); otherwise the COPY is
// refused.
func queryCopySpec(ctx context.Context, cols *postgres.Columns, ct *sqlclass.CopyOut) (*postgres.CopySpec, error) {
	res, err := sqlclass.Classify(ct.QueryText)
	if err != nil {
		return nil, err
	}
	if len(res.Statements) != 1 || res.Statements[0].Opaque {
		return nil, errors.New("the COPY's query cannot be analysed")
	}
	for _, t := range res.Statements[0].Tables {
		if t.Schema != "" {
			continue
		}
		tables, err := cols.Tables(ctx, "", t.Name)
		if err != nil && !errors.Is(err, postgres.ErrNoTable) {
			return nil, err
		}
		if len(tables) > 1 {
			return nil, fmt.Errorf("tables named %s in several schemas: name the schema in the COPY's query", t.Name)
		}
	}
	names, err := cols.Query(ctx, ct.QueryText)
	if err != nil {
		return nil, err
	}
	spec := &postgres.CopySpec{}
	for _, cn := range names {
		spec.Columns = append(spec.Columns, []postgres.ColumnName{cn})
	}
	return spec, copyOptions(spec, ct.Options)
}

func sameNames(a, b []postgres.ColumnName) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Column != b[i].Column {
			return false
		}
	}
	return true
}

func indexColumn(cols []postgres.ColumnName, name string) int {
	for i, c := range cols {
		if c.Column == name {
			return i
		}
	}
	return -1
}

// copyOptions fills in the format of spec from a COPY's options, with
// PostgreSQL's defaults.
func copyOptions(spec *postgres.CopySpec, opts map[string]string) error {
	switch f := strings.ToLower(opts["format"]); f {
	case "", "text":
		spec.Delim, spec.Null = '\t', `\N`
	case "csv":
		spec.CSV, spec.Delim, spec.Null, spec.Quote = true, ',', "", '"'
	default:
		return fmt.Errorf("COPY format %q cannot be masked field by field", f)
	}
	oneByte := func(name string, dst *byte) error {
		v, ok := opts[name]
		if !ok {
			return nil
		}
		if len(v) != 1 {
			return fmt.Errorf("COPY %s %q is not one byte", name, v)
		}
		*dst = v[0]
		return nil
	}
	if err := oneByte("delimiter", &spec.Delim); err != nil {
		return err
	}
	if err := oneByte("quote", &spec.Quote); err != nil {
		return err
	}
	spec.Escape = spec.Quote
	if err := oneByte("escape", &spec.Escape); err != nil {
		return err
	}
	if v, ok := opts["null"]; ok {
		spec.Null = v
	}
	switch strings.ToLower(opts["header"]) {
	case "", "false", "off", "0":
	case "true", "on", "1", "match":
		spec.Header = true
	default:
		return fmt.Errorf("COPY header %q", opts["header"])
	}
	return nil
}
