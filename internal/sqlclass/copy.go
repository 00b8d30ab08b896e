package sqlclass

import (
	"errors"
	"reflect"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// CopyOut is one COPY ... TO STDOUT statement.
type CopyOut struct {
	// Schema and Table name the table copied; both are empty for a COPY of
	// a query (Query is set then).
	Schema, Table string
	Query         bool
	// QueryText is the query of a COPY of a query, as the parser prints
	// it back.
	QueryText string
	// Columns lists the columns named in the statement; empty means all.
	Columns []string
	// Options holds the statement's options by name, lower case, with
	// their values as written ("format": "csv", "delimiter": ";", "header":
	// "true"). An option without a value has "true".
	Options map[string]string
}

// errCopyReadings reports a COPY that names other columns when the
// session has standard_conforming_strings off.
var errCopyReadings = errors.New("the COPY reads differently with standard_conforming_strings off")

// CopyTargets returns the COPY ... TO STDOUT statements of sql, in order.
// A text whose COPYs depend on how the session reads it (see escapes.go)
// is an error.
func CopyTargets(sql string) ([]CopyOut, error) {
	if encodingAmbiguous(sql) {
		return nil, errEncodingAmbiguous
	}
	out, err := copyTargets(sql)
	if err != nil {
		return nil, err
	}
	alt, err := escapeReading(sql)
	switch {
	case errors.Is(err, errEscapesRejected):
	case err != nil:
		return nil, err
	case alt != sql:
		other, err := copyTargets(alt)
		if err == nil && !sameCopies(other, out) {
			return nil, errCopyReadings
		}
	}
	return out, nil
}

// sameCopies reports whether a and b copy the same things, their queries
// differing in constants at most (which name no column).
func sameCopies(a, b []CopyOut) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Query {
			qx, errx := normalize(x.QueryText)
			qy, erry := normalize(y.QueryText)
			if errx != nil || erry != nil || qx != qy {
				return false
			}
			x.QueryText, y.QueryText = "", ""
		}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}

func copyTargets(sql string) ([]CopyOut, error) {
	tree, err := parse(sql)
	if err != nil {
		return nil, err
	}
	var out []CopyOut
	for _, raw := range tree.GetStmts() {
		cs := raw.GetStmt().GetCopyStmt()
		if cs == nil || cs.GetIsFrom() || cs.GetIsProgram() || cs.GetFilename() != "" {
			continue
		}
		c := CopyOut{Options: map[string]string{}}
		if rel := cs.GetRelation(); rel != nil {
			c.Schema, c.Table = rel.GetSchemaname(), rel.GetRelname()
		} else {
			c.Query = true
			q, err := deparse(&pg_query.ParseResult{Version: tree.GetVersion(), Stmts: []*pg_query.RawStmt{{Stmt: cs.GetQuery()}}})
			if err != nil {
				return nil, err
			}
			c.QueryText = q
		}
		for _, a := range cs.GetAttlist() {
			c.Columns = append(c.Columns, a.GetString_().GetSval())
		}
		for _, o := range cs.GetOptions() {
			d := o.GetDefElem()
			if d == nil {
				continue
			}
			c.Options[strings.ToLower(d.GetDefname())] = defValue(d.GetArg())
		}
		out = append(out, c)
	}
	return out, nil
}

func defValue(n *pg_query.Node) string {
	switch {
	case n == nil:
		return "true"
	case n.GetString_() != nil:
		return n.GetString_().GetSval()
	case n.GetBoolean() != nil:
		return strconv.FormatBool(n.GetBoolean().GetBoolval())
	case n.GetInteger() != nil:
		return strconv.Itoa(int(n.GetInteger().GetIval()))
	case n.GetAStar() != nil:
		return "*"
	case n.GetList() != nil:
		var parts []string
		for _, it := range n.GetList().GetItems() {
			parts = append(parts, defValue(it))
		}
		return strings.Join(parts, ",")
	}
	return ""
}
