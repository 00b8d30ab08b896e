package sqlclass

import (
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// cgoMu serializes every call into libpg_query. Each call redirects the
// process's file descriptor 2 into a pipe to capture parser messages and
// restores it afterwards (pg_query_parse.c, pg_query_parse_plpgsql.c, ...);
// two overlapping calls can restore it in the wrong order and leave fd 2 on
// a pipe whose reader is closed, after which a write to stderr kills the
// process with SIGPIPE. This lock only helps because this package is the
// only one that imports pg_query_go. Cache hits do not take it.
var cgoMu sync.Mutex

func parse(sql string) (*pg_query.ParseResult, error) {
	cgoMu.Lock()
	defer cgoMu.Unlock()
	return pg_query.Parse(sql)
}

func deparse(tree *pg_query.ParseResult) (string, error) {
	cgoMu.Lock()
	defer cgoMu.Unlock()
	return pg_query.Deparse(tree)
}

func parsePlpgsql(stmt string) (string, error) {
	cgoMu.Lock()
	defer cgoMu.Unlock()
	return pg_query.ParsePlPgSqlToJSON(stmt)
}

func scanTokens(sql string) (*pg_query.ScanResult, error) {
	cgoMu.Lock()
	defer cgoMu.Unlock()
	return pg_query.Scan(sql)
}

func normalize(sql string) (string, error) {
	cgoMu.Lock()
	defer cgoMu.Unlock()
	return pg_query.Normalize(sql)
}

func fingerprint(sql string) (string, error) {
	cgoMu.Lock()
	defer cgoMu.Unlock()
	return pg_query.Fingerprint(sql)
}
