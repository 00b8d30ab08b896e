package sqlclass

import (
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

// CopyTargets returns the COPY ... TO STDOUT statements of sql, in order.
func CopyTargets(sql string) ([]CopyOut, error) {
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
