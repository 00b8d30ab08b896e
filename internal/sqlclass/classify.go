package sqlclass

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Table is a relation a statement reads or writes.
type Table struct {
	Schema string // "" when the name was not schema-qualified
	Name   string // "*" stands for every table of Schema (GRANT ... ON ALL TABLES IN SCHEMA, DROP SCHEMA)
	// Write is true when the statement inserts into, updates, deletes from,
	// copies into, truncates, creates, alters, drops, grants on, locks,
	// vacuums, clusters, reindexes or refreshes the relation.
	Write bool
}

// Statement is the classification of one top-level statement.
type Statement struct {
	// Kinds holds every kind found in the statement's tree, deduplicated,
	// the top-level kind first. It is never empty.
	Kinds []Kind
	// Tables are the relations read or written, deduplicated by
	// (Schema, Name), Write set when any occurrence writes. Names are as
	// PostgreSQL folds them (unquoted lower-cased, quoted verbatim); a
	// catalog qualifier (db.schema.table) is dropped. CTE references are
	// reported like tables: the classifier does not resolve names.
	Tables []Table
	// Functions are the functions called anywhere in the tree, lower-cased.
	// A schema-qualified call is reported twice, qualified as written
	// ("pg_catalog.pg_read_file") and bare ("pg_read_file"), so a matcher
	// on the bare name catches both spellings.
	Functions []string
	// MissingWhere is true when an UPDATE or DELETE anywhere in the tree
	// (including embedded PL/pgSQL and function bodies) has no WHERE clause.
	// WHERE CURRENT OF counts as a WHERE. Opaque statements set it too.
	MissingWhere bool
	// Prepares is the name given by a SQL-level PREPARE name AS ...; the
	// prepared statement's kinds, tables and functions are part of this
	// Statement. The caller records them in its session state.
	Prepares string
	// Executes is the name of the prepared statement a SQL-level EXECUTE
	// runs (also inside EXPLAIN ANALYZE or CREATE TABLE AS); the caller
	// resolves it from its session state.
	Executes string
	// Opaque is true when part of the statement could not be analysed: a
	// DO block or function body in a language other than plpgsql or sql, a
	// body libpg_query cannot parse, or a dynamic EXECUTE of a non-constant
	// string. Kinds then holds every kind (AllKinds) and MissingWhere is
	// set; Tables and Functions list only what was seen.
	Opaque bool
}

// Result is the classification of one SQL string. A Result returned by
// Cache.Classify is shared: treat every Result as read-only.
type Result struct {
	// Statements has one entry per top-level statement; it is empty for a
	// string holding only whitespace, comments and semicolons.
	Statements []Statement
	// Normalized is the text with constants replaced by $n placeholders
	// (pg_query normalization), for regex matchers and display.
	Normalized string
	// Fingerprint identifies the statement shape (pg_query fingerprint, hex).
	Fingerprint string
}

// maxEmbedDepth bounds how deeply statements embedded in strings (DO bodies,
// function bodies, EXECUTE 'constant') are followed; deeper is Opaque.
const maxEmbedDepth = 8

var errInternal = errors.New("classify sql: internal error")

// Classify parses sql and classifies each statement in it. An error means
// the parser rejected the text (or, defensively, that classification failed
// internally); callers fail closed. Classify never panics.
func Classify(sql string) (res *Result, err error) {
	defer func() {
		if recover() != nil {
			res, err = nil, errInternal
		}
	}()
	if encodingAmbiguous(sql) {
		return nil, errEncodingAmbiguous
	}
	tree, err := parse(sql)
	if err != nil {
		return nil, fmt.Errorf("parse sql: %w", err)
	}
	res = &Result{Statements: make([]Statement, 0, len(tree.Stmts))}
	for _, raw := range tree.Stmts {
		w := walker{version: tree.Version}
		w.walkRoot(raw.GetStmt())
		res.Statements = append(res.Statements, w.finish())
	}
	// The session may have standard_conforming_strings off: what the
	// text, or SQL embedded in it, does then counts too.
	if strings.IndexByte(sql, '\\') >= 0 {
		more, err := escapedStatements(sql, tree)
		if err != nil {
			return nil, err
		}
		if more != nil && !reflect.DeepEqual(more, res.Statements) {
			res.Statements = append(res.Statements, more...)
		}
	}
	if len(tree.Stmts) == 0 {
		return res, nil
	}
	if res.Normalized, err = normalize(sql); err != nil {
		return nil, fmt.Errorf("normalize sql: %w", err)
	}
	if res.Fingerprint, err = fingerprint(sql); err != nil {
		return nil, fmt.Errorf("fingerprint sql: %w", err)
	}
	return res, nil
}

// escapedStatements classifies sql, whose tree with
// standard_conforming_strings on is tree, as a session with it off runs it;
// nil when such a session rejects it.
func escapedStatements(sql string, tree *pg_query.ParseResult) ([]Statement, error) {
	alt, err := escapeReading(sql)
	switch {
	case errors.Is(err, errEscapesRejected):
		return nil, nil
	case err != nil:
		return nil, err
	case alt != sql:
		if tree, err = parse(alt); err != nil {
			return nil, nil
		}
	}
	out := []Statement{}
	for _, raw := range tree.Stmts {
		w := walker{version: tree.Version, escapes: true}
		w.walkRoot(raw.GetStmt())
		out = append(out, w.finish())
	}
	return out, nil
}

// walker accumulates one Statement while walking its parse tree.
type walker struct {
	st   Statement
	root *pg_query.Node
	// version is the parse tree format version, needed to deparse a node.
	version int32
	depth   int // nesting of embedded SQL (bodies, EXECUTE 'constant')
	// planOnly > 0 inside EXPLAIN without ANALYZE: the explained statement
	// is planned, not run, so its kinds, writes and missing WHEREs do not
	// count; its tables and functions still do (the planner may evaluate
	// immutable functions while folding constants).
	planOnly int
	// escapes is set when the statement is read as with
	// standard_conforming_strings off: so is the SQL embedded in it.
	escapes bool
}

// reading returns embedded SQL as the walker's reading parses it. ok is
// false when nothing of it can run: that reading rejects it, or it is
// too complex to follow (the statement is then opaque).
func (w *walker) reading(sql string) (string, bool) {
	if !w.escapes {
		return sql, true
	}
	alt, err := escapeReading(sql)
	switch {
	case errors.Is(err, errEscapesRejected):
		return "", false
	case err != nil:
		w.opaque()
		return "", false
	}
	return alt, true
}

func (w *walker) walkRoot(n *pg_query.Node) {
	w.root = n
	if n == nil {
		return
	}
	w.walk(n.ProtoReflect(), false)
}

func (w *walker) finish() Statement {
	if len(w.st.Kinds) == 0 {
		w.st.Kinds = []Kind{Other}
	}
	return w.st
}

func (w *walker) addKind(k Kind) {
	if w.planOnly > 0 {
		return
	}
	for _, have := range w.st.Kinds {
		if have == k {
			return
		}
	}
	w.st.Kinds = append(w.st.Kinds, k)
}

func (w *walker) addTable(schema, name string, write bool) {
	if name == "" {
		return
	}
	write = write && w.planOnly == 0
	for i := range w.st.Tables {
		t := &w.st.Tables[i]
		if t.Schema == schema && t.Name == name {
			t.Write = t.Write || write
			return
		}
	}
	w.st.Tables = append(w.st.Tables, Table{Schema: schema, Name: name, Write: write})
}

func (w *walker) addFunction(name string) {
	for _, have := range w.st.Functions {
		if have == name {
			return
		}
	}
	w.st.Functions = append(w.st.Functions, name)
}

func (w *walker) missingWhere() {
	if w.planOnly == 0 {
		w.st.MissingWhere = true
	}
}

// opaque records that part of the statement cannot be analysed: it could be
// anything.
func (w *walker) opaque() {
	if w.planOnly > 0 {
		return
	}
	w.st.Opaque = true
	w.st.MissingWhere = true
	for _, k := range AllKinds() {
		w.addKind(k)
	}
}

// walk visits m and then, generically, every message below it. write marks
// a RangeVar reached directly through a write-target field (see
// isWriteTarget); it passes through the Node oneof wrapper only.
func (w *walker) walk(m protoreflect.Message, write bool) {
	if !m.IsValid() {
		return
	}
	leave := w.visit(m, write)
	w.walkChildren(m, write)
	if leave != nil {
		leave()
	}
}

// walkChildren walks every message field of m in field-number order, so
// that Kinds and Tables come out in a stable order (Message.Range promises
// none).
func (w *walker) walkChildren(m protoreflect.Message, write bool) {
	md := m.Descriptor()
	if md.Name() == "Node" {
		// A Node is a oneof over ~270 node types: look up the set one.
		if fd := m.WhichOneof(md.Oneofs().Get(0)); fd != nil && fd.Message() != nil {
			w.walk(m.Get(fd).Message(), write)
		}
		return
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Message() == nil || fd.IsMap() || !m.Has(fd) {
			continue
		}
		childWrite := w.isWriteTarget(m, fd)
		if fd.IsList() {
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				w.walk(l.Get(j).Message(), childWrite)
			}
			continue
		}
		w.walk(m.Get(fd).Message(), childWrite)
	}
}

// isWriteTarget reports whether field fd of statement m names the relation
// the statement writes: INSERT/UPDATE/DELETE/MERGE/TRUNCATE/LOCK targets,
// COPY ... FROM, CREATE/ALTER/INDEX/RULE/TRIGGER/POLICY relations, SELECT
// INTO and CREATE TABLE AS targets, VACUUM/CLUSTER/REINDEX/REFRESH targets.
func (w *walker) isWriteTarget(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	name := string(m.Descriptor().Name())
	if !strings.HasSuffix(name, "Stmt") && name != "IntoClause" && name != "VacuumRelation" {
		return false
	}
	switch fd.Name() {
	case "relation", "relations", "rel", "view", "table", "sequence":
	default:
		return false
	}
	if c, ok := m.Interface().(*pg_query.CopyStmt); ok && !c.IsFrom {
		return false
	}
	return true
}

// visit classifies one node. It returns a function to run after the node's
// children were walked, or nil.
func (w *walker) visit(m protoreflect.Message, write bool) (leave func()) {
	switch n := m.Interface().(type) {
	case *pg_query.Node, *pg_query.RawStmt:
		return nil
	case *pg_query.RangeVar:
		w.addTable(n.Schemaname, n.Relname, write)
	case *pg_query.FuncCall:
		w.funcCall(n)
	case *pg_query.SelectStmt:
		// A VALUES list feeding an INSERT is not a read.
		if len(n.ValuesLists) == 0 || w.isRoot(n) {
			w.addKind(Select)
		}
		if n.IntoClause != nil {
			w.addKind(Create)
		}
	case *pg_query.InsertStmt:
		w.addKind(Insert)
		if n.OnConflictClause.GetAction() == pg_query.OnConflictAction_ONCONFLICT_UPDATE {
			w.addKind(Update)
		}
	case *pg_query.UpdateStmt:
		w.addKind(Update)
		if n.WhereClause == nil {
			w.missingWhere()
		}
	case *pg_query.DeleteStmt:
		w.addKind(Delete)
		if n.WhereClause == nil {
			w.missingWhere()
		}
	case *pg_query.MergeStmt:
		w.addKind(Merge)
	case *pg_query.MergeWhenClause:
		switch n.CommandType {
		case pg_query.CmdType_CMD_INSERT:
			w.addKind(Insert)
		case pg_query.CmdType_CMD_UPDATE:
			w.addKind(Update)
		case pg_query.CmdType_CMD_DELETE:
			w.addKind(Delete)
		}
	case *pg_query.CopyStmt:
		if n.IsFrom {
			w.addKind(CopyFrom)
		} else {
			w.addKind(CopyTo)
		}
		if n.IsProgram {
			w.addKind(CopyProgram)
		} else if n.Filename != "" {
			w.addKind(CopyFile)
		}
	case *pg_query.ExplainStmt:
		w.addKind(Explain)
		if !explainAnalyze(n) {
			w.planOnly++
			return func() { w.planOnly-- }
		}
	case *pg_query.VariableSetStmt:
		switch {
		case n.Kind == pg_query.VariableSetKind_VAR_RESET_ALL:
			w.addKind(Set)
			w.addKind(SetRole)
		case n.Name == "role" || n.Name == "session_authorization":
			w.addKind(SetRole)
		default:
			w.addKind(Set)
		}
	case *pg_query.GrantStmt:
		w.grant(n.IsGrant)
		w.grantTargets(n)
	case *pg_query.GrantRoleStmt:
		w.grant(n.IsGrant)
	case *pg_query.DropStmt:
		w.addKind(Drop)
		w.dropTargets(n)
	case *pg_query.VacuumStmt:
		if n.IsVacuumcmd {
			w.addKind(Vacuum)
		} else {
			w.addKind(Analyze)
		}
	case *pg_query.PrepareStmt:
		w.addKind(Prepare)
		if w.st.Prepares == "" {
			w.st.Prepares = n.Name
		}
	case *pg_query.ExecuteStmt:
		w.addKind(Execute)
		if w.st.Executes == "" {
			w.st.Executes = n.Name
		}
	case *pg_query.DoStmt:
		w.addKind(Do)
		w.doBody(n)
	case *pg_query.CreateFunctionStmt:
		w.addKind(Create)
		w.functionBody(n)
	case *pg_query.ReturnStmt, *pg_query.PLAssignStmt:
		// Parts of function bodies, not statements of their own.
	default:
		w.byName(string(m.Descriptor().Name()))
	}
	return nil
}

func (w *walker) isRoot(s *pg_query.SelectStmt) bool {
	return w.root != nil && w.root.GetSelectStmt() == s
}

// byName classifies statement nodes that need no look inside.
func (w *walker) byName(name string) {
	if !strings.HasSuffix(name, "Stmt") {
		return
	}
	if k, ok := simpleKinds[name]; ok {
		w.addKind(k)
		return
	}
	switch {
	case strings.HasPrefix(name, "Create"):
		w.addKind(Create)
	case strings.HasPrefix(name, "Alter"):
		w.addKind(Alter)
	case strings.HasPrefix(name, "Drop"):
		w.addKind(Drop)
	default:
		w.addKind(Other)
	}
}

func (w *walker) grant(isGrant bool) {
	if isGrant {
		w.addKind(Grant)
	} else {
		w.addKind(Revoke)
	}
}

// explainAnalyze reports whether EXPLAIN runs the statement. Any ANALYZE
// option other than an explicit false value counts.
func explainAnalyze(n *pg_query.ExplainStmt) bool {
	for _, o := range n.Options {
		d := o.GetDefElem()
		if d == nil || d.Defname != "analyze" {
			continue
		}
		return !isFalse(d.Arg)
	}
	return false
}

// isFalse reports whether a DefElem argument spells false (EXPLAIN (ANALYZE
// off), (ANALYZE false), (ANALYZE 0)).
func isFalse(arg *pg_query.Node) bool {
	if arg == nil {
		return false
	}
	var s string
	switch {
	case arg.GetString_() != nil:
		s = arg.GetString_().Sval
	case arg.GetBoolean() != nil:
		return !arg.GetBoolean().Boolval
	case arg.GetInteger() != nil:
		return arg.GetInteger().Ival == 0
	case arg.GetAConst() != nil:
		c := arg.GetAConst()
		switch {
		case c.GetBoolval() != nil:
			return !c.GetBoolval().Boolval
		case c.GetIval() != nil:
			return c.GetIval().Ival == 0
		case c.GetSval() != nil:
			s = c.GetSval().Sval
		default:
			return false
		}
	default:
		return false
	}
	switch strings.ToLower(s) {
	case "false", "off", "no", "0", "f", "n", "of", "fa", "fal", "fals":
		return true
	}
	return false
}

// funcCall records a called function and catches role changes made through
// set_config('role', ...).
func (w *walker) funcCall(n *pg_query.FuncCall) {
	parts := make([]string, 0, len(n.Funcname))
	for _, p := range n.Funcname {
		parts = append(parts, strings.ToLower(p.GetString_().GetSval()))
	}
	if len(parts) == 0 {
		return
	}
	bare := parts[len(parts)-1]
	w.addFunction(strings.Join(parts, "."))
	if len(parts) > 1 {
		w.addFunction(bare)
	}
	if bare == "set_config" {
		setting := ""
		if len(n.Args) > 0 {
			setting = strings.ToLower(n.Args[0].GetAConst().GetSval().GetSval())
		}
		// Not a constant: it could name the role.
		if setting == "" || setting == "role" || setting == "session_authorization" {
			w.addKind(SetRole)
		}
	}
}

// grantTargets records tables a GRANT/REVOKE changes privileges on.
func (w *walker) grantTargets(n *pg_query.GrantStmt) {
	switch n.Objtype {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_SEQUENCE:
	default:
		return
	}
	for _, o := range n.Objects {
		switch {
		case o.GetRangeVar() != nil:
			rv := o.GetRangeVar()
			w.addTable(rv.Schemaname, rv.Relname, true)
		case o.GetString_() != nil && n.Targtype == pg_query.GrantTargetType_ACL_TARGET_ALL_IN_SCHEMA:
			w.addTable(o.GetString_().Sval, "*", true)
		}
	}
}

// dropTargets records the relations a DROP removes; their names are plain
// name lists, not RangeVars. DROP SCHEMA reports schema.*.
func (w *walker) dropTargets(n *pg_query.DropStmt) {
	switch n.RemoveType {
	case pg_query.ObjectType_OBJECT_SCHEMA:
		for _, o := range n.Objects {
			if s := o.GetString_(); s != nil {
				w.addTable(s.Sval, "*", true)
			}
		}
		return
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW,
		pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_FOREIGN_TABLE,
		pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_INDEX:
	default:
		return
	}
	for _, o := range n.Objects {
		var names []string
		for _, it := range o.GetList().GetItems() {
			names = append(names, it.GetString_().GetSval())
		}
		switch len(names) {
		case 0:
		case 1:
			w.addTable("", names[0], true)
		default:
			w.addTable(names[len(names)-2], names[len(names)-1], true)
		}
	}
}
