package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// maxViewDepth bounds how many views deep Columns follows a view column to
// the table column behind it.
const maxViewDepth = 16

// ErrNoTable reports that Tables found no table of the name.
var ErrNoTable = errors.New("table not found")

// maxCachedTables bounds a Columns cache; past it the cache starts over.
const maxCachedTables = 4096

// columnsTTL is how long a Columns cache entry is trusted: DDL run outside
// gatehouse is not seen, so names are looked up again after a while.
const columnsTTL = 2 * time.Second

// Columns names the table columns behind result columns, for the column
// rules of masking. It looks a table up once, through a connection of its
// own to the target (logged in as the connector), and caches every column
// of it; a column of a view is followed to the table column it shows, so
// that a view or an alias does not hide a masked column. Columns is safe
// for concurrent use; queries are serialized on its one connection.
type Columns struct {
	// Target is the server and database whose catalogs are read.
	Target Target

	mu     sync.Mutex
	conn   *pgconn.PgConn
	tables map[uint32]*tableColumns
	gen    atomic.Uint64 // advanced whenever cached names may have changed
}

// Generation advances whenever names Resolve returned may have changed
// (Invalidate, or an entry looked up again after its time ran out), so
// that callers caching its answers know to ask again.
func (c *Columns) Generation() uint64 { return c.gen.Load() }

type tableColumns struct {
	at      time.Time
	cols    []ColumnName // by attnum - 1; views hold what each column shows
	dropped []bool       // by attnum - 1
}

// Resolve returns the table column behind attribute attnum of relation
// table. A view column that is an expression resolves to the view's own
// name for it with an empty Table, like any computed column.
func (c *Columns) Resolve(ctx context.Context, table uint32, attnum int16) (ColumnName, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resolveLocked(ctx, table, attnum, 0)
}

func (c *Columns) resolveLocked(ctx context.Context, table uint32, attnum int16, depth int) (ColumnName, error) {
	tc, err := c.tableLocked(ctx, table, depth)
	if err != nil {
		return ColumnName{}, err
	}
	if attnum < 1 || int(attnum) > len(tc.cols) {
		return ColumnName{}, fmt.Errorf("relation %d has no column %d", table, attnum)
	}
	return tc.cols[attnum-1], nil
}

const (
	sqlRegclass   = `SELECT to_regclass($1)::oid`
	sqlRelsByName = `SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = $1 AND c.relkind IN ('r', 'p', 'm', 'f', 'v') ORDER BY c.oid`
	maxCandidates = 64
)

// Tables returns the columns, in order and without dropped ones (as COPY
// without a column list writes them), of the table schema.name, or, when
// schema is empty, of every table of that name in any schema: the catalog
// connection cannot know the search path of the session that names it, so
// callers must allow for each.
func (c *Columns) Tables(ctx context.Context, schema, name string) ([][]ColumnName, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var rows [][]string
	var err error
	if schema != "" {
		rows, err = c.queryLocked(ctx, sqlRegclass, quoteIdent(schema)+"."+quoteIdent(name), 25)
	} else {
		rows, err = c.queryLocked(ctx, sqlRelsByName, name, 19)
	}
	if err != nil {
		return nil, err
	}
	var out [][]ColumnName
	for _, row := range rows {
		if row[0] == "" {
			continue
		}
		oid, err := strconv.ParseUint(row[0], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("table %s: oid %q", name, row[0])
		}
		tc, err := c.tableLocked(ctx, uint32(oid), 0)
		if err != nil {
			return nil, err
		}
		var cols []ColumnName
		for i, cn := range tc.cols {
			if !tc.dropped[i] {
				cols = append(cols, cn)
			}
		}
		out = append(out, cols)
		if len(out) > maxCandidates {
			return nil, fmt.Errorf("more than %d tables named %s", maxCandidates, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoTable, name)
	}
	return out, nil
}

// Query names the table column behind each output column of query, as
// its description on the catalog connection says, following views; a
// computed column gets only its name. The catalog connection resolves
// names on its own search path: callers make sure that cannot differ from
// the session's where it matters. The query is parsed and described,
// never run.
func (c *Columns) Query(ctx context.Context, query string) ([]ColumnName, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := c.connectLocked(ctx); err != nil {
		return nil, err
	}
	sd, err := c.conn.Prepare(ctx, "", query, nil)
	if err != nil {
		c.dropIfBroken(err)
		return nil, fmt.Errorf("describe the query: %w", err)
	}
	out := make([]ColumnName, len(sd.Fields))
	for i, f := range sd.Fields {
		if f.TableOID == 0 || f.TableAttributeNumber == 0 {
			out[i] = ColumnName{Column: f.Name}
			continue
		}
		if out[i], err = c.resolveLocked(ctx, f.TableOID, int16(f.TableAttributeNumber), 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Invalidate forgets every cached table.
func (c *Columns) Invalidate() {
	c.mu.Lock()
	c.tables = nil
	c.gen.Add(1)
	c.mu.Unlock()
}

// Close closes the catalog connection.
func (c *Columns) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close(context.Background())
	c.conn = nil
	return err
}

const sqlTableColumns = `SELECT n.nspname, c.relname, c.relkind, a.attnum, a.attname, a.attisdropped
	FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
	WHERE c.oid = $1 AND a.attnum > 0
	ORDER BY a.attnum`

const sqlViewQuery = `SELECT ev_action FROM pg_catalog.pg_rewrite WHERE ev_class = $1 AND rulename = '_RETURN'`

func (c *Columns) tableLocked(ctx context.Context, table uint32, depth int) (*tableColumns, error) {
	if tc := c.tables[table]; tc != nil {
		if time.Since(tc.at) < columnsTTL {
			return tc, nil
		}
		c.gen.Add(1)
	}
	if depth > maxViewDepth {
		return nil, fmt.Errorf("views nested more than %d deep", maxViewDepth)
	}
	rows, err := c.queryLocked(ctx, sqlTableColumns, strconv.FormatUint(uint64(table), 10), 26)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("relation %d not found", table)
	}
	tc := &tableColumns{at: time.Now()}
	kind := rows[0][2]
	for _, row := range rows {
		n, err := strconv.Atoi(row[3])
		if err != nil || n != len(tc.cols)+1 {
			return nil, fmt.Errorf("relation %d: unexpected attribute number %q", table, row[3])
		}
		tc.cols = append(tc.cols, ColumnName{Schema: row[0], Table: row[1], Column: row[4]})
		tc.dropped = append(tc.dropped, row[5] == "t")
	}
	if kind == "v" || kind == "m" {
		if err := c.followView(ctx, table, tc, depth); err != nil {
			return nil, err
		}
	}
	if c.tables == nil || len(c.tables) >= maxCachedTables {
		c.tables = make(map[uint32]*tableColumns)
	}
	c.tables[table] = tc
	return tc, nil
}

// followView replaces each column of view tc with the table column it
// shows, or with a computed column's name when it shows an expression.
func (c *Columns) followView(ctx context.Context, view uint32, tc *tableColumns, depth int) error {
	rows, err := c.queryLocked(ctx, sqlViewQuery, strconv.FormatUint(uint64(view), 10), 26)
	if err != nil {
		return err
	}
	if len(rows) != 1 {
		return fmt.Errorf("view %d has no query", view)
	}
	origins, err := viewOrigins(rows[0][0])
	if err != nil {
		return fmt.Errorf("view %d: %w", view, err)
	}
	for i := range tc.cols {
		o, ok := origins[i+1]
		if !ok || o.table == 0 || o.column <= 0 {
			// An expression, a whole row or a system column: only its
			// name is left.
			tc.cols[i] = ColumnName{Column: tc.cols[i].Column}
			continue
		}
		cn, err := c.resolveLocked(ctx, o.table, o.column, depth+1)
		if err != nil {
			return err
		}
		tc.cols[i] = cn
	}
	return nil
}

// queryLocked runs a catalog query with one parameter of type typ,
// connecting first if needed, and returns the rows as text (NULL as "").
func (c *Columns) queryLocked(ctx context.Context, sql, param string, typ uint32) ([][]string, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := c.connectLocked(ctx); err != nil {
		return nil, err
	}
	res := c.conn.ExecParams(ctx, sql, [][]byte{[]byte(param)}, []uint32{typ}, nil, nil).Read()
	if res.Err != nil {
		c.dropIfBroken(res.Err)
		return nil, fmt.Errorf("read column names: %w", res.Err)
	}
	out := make([][]string, len(res.Rows))
	for i, r := range res.Rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			out[i][j] = string(v)
		}
	}
	return out, nil
}

// catalogLockTimeout bounds how long the catalog connection waits for a
// lock; past it the COPY that needed the description is refused.
const catalogLockTimeout = "1s"

// connectLocked opens the catalog connection if it is not open.
func (c *Columns) connectLocked(ctx context.Context) error {
	if c.conn != nil && !c.conn.IsClosed() {
		return nil
	}
	// Describing a COPY's query locks the tables it names, and the session
	// that runs the COPY may hold a conflicting lock (LOCK TABLE, DDL
	// earlier in its transaction) until its COPY is done: without a lock
	// timeout the describe would wait for it, holding every other
	// session's column lookups, until dialTimeout.
	conn, _, err := c.Target.connect(ctx, map[string]string{"application_name": "gatehouse-masking", "lock_timeout": catalogLockTimeout})
	if err != nil {
		return &causeError{public: errCannotConnect, cause: fmt.Errorf("connect for column names: %w", err), secret: c.Target.Password}
	}
	c.conn = conn
	return nil
}

// dropIfBroken closes the catalog connection after an error that is not
// the server's answer to a query, so the next query connects again.
func (c *Columns) dropIfBroken(err error) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		c.conn.Close(context.Background())
		c.conn = nil
	}
}

// origin is the table column a view column shows; table is 0 for an
// expression.
type origin struct {
	table  uint32
	column int16
}

// viewOrigins reads, from a view's stored query (pg_rewrite.ev_action, in
// the server's node text format), the table column behind each output
// column of the top-level query, by output position. The parse trusts
// only structure: strings in the text escape every delimiter with a
// backslash, so a column named like a field cannot pass for one.
func viewOrigins(s string) (map[int]origin, error) {
	lx := nodeLexer{s: s}
	for {
		tok, depth, ok := lx.next()
		if !ok {
			return nil, errors.New("stored query has no target list")
		}
		if depth == 2 && tok == ":targetList" {
			break
		}
	}
	out := make(map[int]origin)
	tok, _, ok := lx.next()
	switch {
	case ok && tok == "<>":
		return out, nil
	case !ok || tok != "(":
		return nil, errors.New("malformed target list")
	}
	for {
		tok, depth, ok := lx.next()
		switch {
		case !ok:
			return nil, errors.New("unterminated target list")
		case tok == ")" && depth == 2:
			return out, nil
		case tok == "{" && depth == 4:
			if err := lx.targetEntry(out); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unexpected %q in target list", tok)
		}
	}
}

// targetEntry reads one {TARGETENTRY ...} whose opening brace was read.
func (lx *nodeLexer) targetEntry(out map[int]origin) error {
	name, _, ok := lx.next()
	if !ok || name != "TARGETENTRY" {
		return fmt.Errorf("target list holds %q, not a TARGETENTRY", name)
	}
	var resno, tbl, col int64
	junk := false
	for {
		field, depth, ok := lx.next()
		switch {
		case !ok:
			return errors.New("unterminated TARGETENTRY")
		case field == "}" && depth == 3:
			if resno > 0 && !junk {
				out[int(resno)] = origin{table: uint32(tbl), column: int16(col)}
			}
			return nil
		case len(field) < 2 || field[0] != ':':
			return fmt.Errorf("TARGETENTRY: expected a field, got %q", field)
		}
		val, vdepth, ok := lx.next()
		if !ok {
			return errors.New("unterminated TARGETENTRY")
		}
		if val == "{" || val == "(" {
			if err := lx.skipTo(vdepth - 1); err != nil {
				return err
			}
			continue
		}
		var err error
		switch field {
		case ":resno":
			resno, err = strconv.ParseInt(val, 10, 16)
		case ":resorigtbl":
			tbl, err = strconv.ParseInt(val, 10, 64)
			if err == nil && (tbl < 0 || tbl > 1<<32-1) {
				err = errors.New("out of range")
			}
		case ":resorigcol":
			col, err = strconv.ParseInt(val, 10, 16)
		case ":resjunk":
			junk = val == "true"
		}
		if err != nil {
			return fmt.Errorf("TARGETENTRY %s %q: %w", field, val, err)
		}
	}
}

// skipTo reads tokens until the nesting depth is back to depth.
func (lx *nodeLexer) skipTo(depth int) error {
	for {
		tok, d, ok := lx.next()
		if !ok {
			return errors.New("unterminated node")
		}
		if d == depth && (tok == "}" || tok == ")") {
			return nil
		}
	}
}

// nodeLexer splits the server's node text format into words and the
// delimiters { } ( ), tracking nesting depth.
type nodeLexer struct {
	s     string
	i     int
	depth int
}

// next returns the next token and the depth it leaves: inside an opening
// delimiter, outside a closing one.
func (lx *nodeLexer) next() (tok string, depth int, ok bool) {
	s := lx.s
	for lx.i < len(s) && isNodeSpace(s[lx.i]) {
		lx.i++
	}
	if lx.i >= len(s) {
		return "", lx.depth, false
	}
	switch c := s[lx.i]; c {
	case '{', '(':
		lx.i++
		lx.depth++
		return string(c), lx.depth, true
	case '}', ')':
		lx.i++
		lx.depth--
		if lx.depth < 0 {
			return "", 0, false
		}
		return string(c), lx.depth, true
	}
	start := lx.i
	for lx.i < len(s) {
		c := s[lx.i]
		if c == '\\' {
			lx.i += 2
			continue
		}
		if isNodeSpace(c) || c == '{' || c == '}' || c == '(' || c == ')' {
			break
		}
		lx.i++
	}
	lx.i = min(lx.i, len(s))
	return s[start:lx.i], lx.depth, true
}

func isNodeSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }
