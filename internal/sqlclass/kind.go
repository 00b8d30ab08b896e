package sqlclass

// Kind names what a statement (or a statement nested in it) does. The string
// values are the names policies use in `statement:` matchers.
type Kind string

// The kinds, with the statements that produce them.
const (
	Select      Kind = "select"       // SELECT, VALUES at top level, TABLE t, PL/pgSQL PERFORM
	Insert      Kind = "insert"       // INSERT, MERGE ... THEN INSERT
	Update      Kind = "update"       // UPDATE, MERGE ... THEN UPDATE, INSERT ... ON CONFLICT DO UPDATE
	Delete      Kind = "delete"       // DELETE, MERGE ... THEN DELETE
	Merge       Kind = "merge"        // MERGE (its actions add insert/update/delete)
	CopyFrom    Kind = "copy_from"    // COPY ... FROM (STDIN, a file or a program)
	CopyTo      Kind = "copy_to"      // COPY ... TO (STDOUT, a file or a program)
	CopyProgram Kind = "copy_program" // COPY ... TO/FROM PROGRAM, in addition to copy_from/copy_to
	CopyFile    Kind = "copy_file"    // COPY ... TO/FROM a server-side file, in addition to copy_from/copy_to
	Truncate    Kind = "truncate"     // TRUNCATE
	Drop        Kind = "drop"         // DROP of any object, DROP OWNED, DROP DATABASE/ROLE/...
	Alter       Kind = "alter"        // ALTER of any object, ALTER SYSTEM, RENAME, REASSIGN OWNED, ALTER DEFAULT PRIVILEGES
	Create      Kind = "create"       // CREATE of any object, CREATE TABLE AS, SELECT INTO, IMPORT FOREIGN SCHEMA
	Grant       Kind = "grant"        // GRANT privileges or roles
	Revoke      Kind = "revoke"       // REVOKE privileges or roles
	Do          Kind = "do"           // DO blocks (their body's kinds follow)
	Call        Kind = "call"         // CALL procedure
	SetRole     Kind = "set_role"     // SET/RESET ROLE, SET SESSION AUTHORIZATION, RESET ALL, set_config('role', ...)
	Set         Kind = "set"          // SET, RESET, SET CONSTRAINTS, SET TRANSACTION
	Show        Kind = "show"         // SHOW
	Transaction Kind = "transaction"  // BEGIN, START TRANSACTION, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION, ...
	Explain     Kind = "explain"      // EXPLAIN (the explained statement's kinds follow only with ANALYZE)
	Prepare     Kind = "prepare"      // SQL-level PREPARE (the prepared statement's kinds follow)
	Execute     Kind = "execute"      // SQL-level EXECUTE of a prepared statement (see Statement.Executes)
	Deallocate  Kind = "deallocate"   // DEALLOCATE
	Listen      Kind = "listen"       // LISTEN
	Unlisten    Kind = "unlisten"     // UNLISTEN
	Notify      Kind = "notify"       // NOTIFY
	Vacuum      Kind = "vacuum"       // VACUUM (including VACUUM ANALYZE)
	Analyze     Kind = "analyze"      // ANALYZE
	Lock        Kind = "lock"         // LOCK TABLE
	Comment     Kind = "comment"      // COMMENT ON
	Reindex     Kind = "reindex"      // REINDEX
	Cluster     Kind = "cluster"      // CLUSTER
	Refresh     Kind = "refresh"      // REFRESH MATERIALIZED VIEW
	Discard     Kind = "discard"      // DISCARD
	Checkpoint  Kind = "checkpoint"   // CHECKPOINT
	Load        Kind = "load"         // LOAD 'library'
	Declare     Kind = "declare"      // DECLARE cursor (the cursor query's kinds follow)
	Fetch       Kind = "fetch"        // FETCH, MOVE
	Close       Kind = "close"        // CLOSE cursor
	Other       Kind = "other"        // anything else (SECURITY LABEL, ...)
)

// AllKinds lists every Kind except Other, in declaration order. An Opaque
// statement carries all of them.
func AllKinds() []Kind {
	return []Kind{
		Select, Insert, Update, Delete, Merge, CopyFrom, CopyTo, CopyProgram, CopyFile,
		Truncate, Drop, Alter, Create, Grant, Revoke, Do, Call, SetRole, Set, Show,
		Transaction, Explain, Prepare, Execute, Deallocate, Listen, Unlisten, Notify,
		Vacuum, Analyze, Lock, Comment, Reindex, Cluster, Refresh, Discard, Checkpoint,
		Load, Declare, Fetch, Close,
	}
}

// simpleKinds maps parse-tree statement node names whose kind needs no look
// inside the node. Statement nodes not listed here and not handled in
// walker.visit fall back to their name prefix (Create, Alter, Drop), then to
// Other. Read-only after package initialization.
var simpleKinds = map[string]Kind{
	"TruncateStmt":            Truncate,
	"CallStmt":                Call,
	"VariableShowStmt":        Show,
	"TransactionStmt":         Transaction,
	"DeallocateStmt":          Deallocate,
	"ListenStmt":              Listen,
	"UnlistenStmt":            Unlisten,
	"NotifyStmt":              Notify,
	"LockStmt":                Lock,
	"CommentStmt":             Comment,
	"ReindexStmt":             Reindex,
	"ClusterStmt":             Cluster,
	"RefreshMatViewStmt":      Refresh,
	"DiscardStmt":             Discard,
	"CheckPointStmt":          Checkpoint,
	"LoadStmt":                Load,
	"DeclareCursorStmt":       Declare,
	"FetchStmt":               Fetch,
	"ClosePortalStmt":         Close,
	"ConstraintsSetStmt":      Set,
	"DefineStmt":              Create,
	"IndexStmt":               Create,
	"ViewStmt":                Create,
	"RuleStmt":                Create,
	"CompositeTypeStmt":       Create,
	"ImportForeignSchemaStmt": Create,
	"RenameStmt":              Alter,
	"ReassignOwnedStmt":       Alter,
	"ReplicaIdentityStmt":     Alter,
	"SecLabelStmt":            Other,
}
