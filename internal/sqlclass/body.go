package sqlclass

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// PL/pgSQL expression parse modes as libpg_query reports them
// (RawParseMode in PostgreSQL's parser/parser.h).
const (
	parseModeDefault  = 0 // a complete SQL statement
	parseModeTypeName = 1
	parseModeExpr     = 2 // an expression, run as SELECT <expr>
	parseModeAssign1  = 3 // target := expr
	parseModeAssign3  = 5
)

// doBody classifies the body of a DO block. Only plpgsql can be analysed.
func (w *walker) doBody(n *pg_query.DoStmt) {
	body, lang, hasBody := "", "plpgsql", false
	for _, a := range n.Args {
		d := a.GetDefElem()
		switch d.GetDefname() {
		case "as":
			body, hasBody = d.GetArg().GetString_().GetSval(), true
		case "language":
			lang = strings.ToLower(d.GetArg().GetString_().GetSval())
		}
	}
	if !hasBody || lang != "plpgsql" {
		w.opaque()
		return
	}
	body, ok := w.reading(body)
	if !ok {
		return
	}
	w.plpgsql("DO " + dollarQuote(body))
}

// functionBody classifies the body of CREATE FUNCTION/PROCEDURE: LANGUAGE
// sql bodies are parsed as SQL, plpgsql bodies with the PL/pgSQL parser,
// other languages are opaque. SQL-standard bodies (BEGIN ATOMIC, RETURN) are
// parse-tree nodes the generic walk already covers.
func (w *walker) functionBody(n *pg_query.CreateFunctionStmt) {
	var body []string
	lang := ""
	for _, o := range n.Options {
		d := o.GetDefElem()
		switch d.GetDefname() {
		case "as":
			for _, it := range d.GetArg().GetList().GetItems() {
				body = append(body, it.GetString_().GetSval())
			}
		case "language":
			lang = strings.ToLower(d.GetArg().GetString_().GetSval())
		}
	}
	if len(body) == 0 {
		if n.SqlBody == nil {
			w.opaque()
		}
		return
	}
	switch lang {
	case "sql":
		if len(body) != 1 {
			w.opaque()
			return
		}
		w.embedded(body[0])
	case "plpgsql":
		if len(body) != 1 {
			w.opaque()
			return
		}
		// libpg_query compiles the function from a CREATE FUNCTION
		// statement; hand it one rebuilt from the tree so that parameter
		// names and the return type are as written, and so that it is
		// certain to carry an AS body (the compiler asserts one).
		if alt, ok := w.reading(body[0]); !ok {
			return
		} else if alt != body[0] {
			n = withBody(n, alt)
		}
		tree := &pg_query.ParseResult{Version: w.version, Stmts: []*pg_query.RawStmt{{
			Stmt: &pg_query.Node{Node: &pg_query.Node_CreateFunctionStmt{CreateFunctionStmt: n}},
		}}}
		text, err := deparse(tree)
		if err != nil {
			w.opaque()
			return
		}
		w.plpgsql(text)
	default:
		w.opaque()
	}
}

// withBody returns a copy of n whose AS body is body.
func withBody(n *pg_query.CreateFunctionStmt, body string) *pg_query.CreateFunctionStmt {
	n = proto.Clone(n).(*pg_query.CreateFunctionStmt)
	for _, o := range n.Options {
		if d := o.GetDefElem(); d.GetDefname() == "as" {
			if items := d.GetArg().GetList().GetItems(); len(items) == 1 && items[0].GetString_() != nil {
				items[0].GetString_().Sval = body
			}
		}
	}
	return n
}

// dollarQuote quotes s as a dollar-quoted literal whose tag does not occur
// in s.
func dollarQuote(s string) string {
	tag := "$gh$"
	for i := 0; strings.Contains(s, tag); i++ {
		tag = "$gh" + strconv.Itoa(i) + "$"
	}
	return tag + s + tag
}

// embedded classifies SQL text found inside the statement (a function body,
// a PL/pgSQL statement, EXECUTE of a constant) into the same Statement.
func (w *walker) embedded(sql string) {
	if w.depth >= maxEmbedDepth {
		w.opaque()
		return
	}
	sql, ok := w.reading(sql)
	if !ok {
		return
	}
	tree, err := parse(sql)
	if err != nil {
		w.opaque()
		return
	}
	w.depth++
	for _, raw := range tree.Stmts {
		if n := raw.GetStmt(); n != nil {
			w.walk(n.ProtoReflect(), false)
		}
	}
	w.depth--
}

// embeddedExpr classifies a PL/pgSQL expression: its functions, tables and
// subqueries count; the SELECT that PL/pgSQL wraps it in counts as a read
// only when it has a FROM clause. When dynamic is set, the expression is
// the text of a dynamic EXECUTE: a string constant is classified as SQL,
// anything else is opaque.
func (w *walker) embeddedExpr(expr string, dynamic bool) {
	if w.depth >= maxEmbedDepth {
		w.opaque()
		return
	}
	text, ok := w.reading("SELECT " + expr)
	if !ok {
		return
	}
	tree, err := parse(text)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].GetStmt().GetSelectStmt() == nil {
		w.opaque()
		return
	}
	sel := tree.Stmts[0].GetStmt().GetSelectStmt()
	if len(sel.FromClause) > 0 {
		w.addKind(Select)
	}
	w.depth++
	w.walkChildren(sel.ProtoReflect(), false)
	w.depth--
	if !dynamic {
		return
	}
	if len(sel.TargetList) == 1 && len(sel.FromClause) == 0 {
		if c := sel.TargetList[0].GetResTarget().GetVal().GetAConst(); c != nil && c.GetSval() != nil {
			w.embedded(c.GetSval().Sval)
			return
		}
	}
	w.opaque()
}

// plpgsql compiles a DO or CREATE FUNCTION statement with libpg_query's
// PL/pgSQL parser and classifies every SQL statement and expression in it.
func (w *walker) plpgsql(stmt string) {
	if w.depth >= maxEmbedDepth {
		w.opaque()
		return
	}
	out, err := parsePlpgsql(stmt)
	if err != nil {
		w.opaque()
		return
	}
	var tree any
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		w.opaque()
		return
	}
	w.depth++
	w.plNode(tree, "", "")
	w.depth--
}

// plNode walks libpg_query's PL/pgSQL JSON generically. Nodes are objects
// with one key naming the node type ("PLpgSQL_stmt_execsql": {...});
// nodeType and field say where v sits.
func (w *walker) plNode(v any, nodeType, field string) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			w.plNode(e, nodeType, field)
		}
	case map[string]any:
		if e, ok := v["PLpgSQL_expr"].(map[string]any); ok && len(v) == 1 {
			w.plExpr(e, nodeType, field)
			return
		}
		// Sorted keys keep Kinds and Tables in a stable order.
		for _, k := range slices.Sorted(maps.Keys(v)) {
			child := v[k]
			if strings.HasPrefix(k, "PLpgSQL_") {
				switch k {
				case "PLpgSQL_stmt_commit", "PLpgSQL_stmt_rollback":
					w.addKind(Transaction)
				}
				w.plNode(child, k, "")
				continue
			}
			w.plNode(child, nodeType, k)
		}
	}
}

func (w *walker) plExpr(e map[string]any, nodeType, field string) {
	query, _ := e["query"].(string)
	mode := parseModeDefault
	if m, ok := e["parseMode"].(float64); ok {
		mode = int(m)
	}
	dynamic := field == "dynquery" ||
		(field == "query" && (nodeType == "PLpgSQL_stmt_dynexecute" || nodeType == "PLpgSQL_stmt_dynfors"))
	switch {
	case dynamic:
		w.embeddedExpr(query, true)
	case mode == parseModeDefault:
		w.embedded(query)
	case mode == parseModeTypeName:
	case mode == parseModeExpr:
		w.embeddedExpr(query, false)
	case mode >= parseModeAssign1 && mode <= parseModeAssign3:
		rhs, ok := assignmentValue(query)
		if !ok {
			w.opaque()
			return
		}
		w.embeddedExpr(rhs, false)
	default:
		w.opaque()
	}
}

// assignmentValue returns the expression of a PL/pgSQL assignment
// "target := expr" (or "target = expr"), finding the operator with the SQL
// scanner so that quoted text and subscripts cannot mislead it.
func assignmentValue(assign string) (string, bool) {
	scan, err := scanTokens(assign)
	if err != nil {
		return "", false
	}
	depth := 0
	for _, t := range scan.Tokens {
		switch t.Token {
		case pg_query.Token_ASCII_40, pg_query.Token_ASCII_91: // ( [
			depth++
		case pg_query.Token_ASCII_41, pg_query.Token_ASCII_93: // ) ]
			depth--
		case pg_query.Token_COLON_EQUALS, pg_query.Token_ASCII_61: // := =
			if depth == 0 && int(t.End) <= len(assign) {
				return assign[t.End:], true
			}
		}
	}
	return "", false
}
