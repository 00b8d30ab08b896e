// Package postgres is gatehouse's PostgreSQL protocol engine.
//
// It has two halves, one on each side of the tunnel.
//
// # Gateway half: Front
//
// Front terminates the client's connection (psql, pgx, JDBC, ...):
//
//	client                          Front
//	  SSLRequest            ->
//	                        <-      'S' (then a TLS handshake) or 'N'
//	  GSSENCRequest         ->
//	                        <-      'N'
//	  StartupMessage 3.0    ->      user = connection name, database, params
//	                        <-      AuthenticationCleartextPassword
//	  PasswordMessage       ->      the gatehouse token
//	                                Front.Open(OpenRequest) resolves identity,
//	                                connection and target; it returns Opened
//	                        <-      AuthenticationOk, ParameterStatus*,
//	                                BackendKeyData (Front's own), ReadyForQuery 'I'
//	  ... session ...       <->     Opened.Relay(client conn)
//
// A client that asks for protocol 3.2 is answered with
// NegotiateProtocolVersion and continues on 3.0. Unless AllowPlaintext is
// set, a client that did not negotiate TLS is refused with FATAL 28000 before
// any password is asked for. A CancelRequest arrives on a new connection with
// the BackendKeyData that Front generated for the session (a random 32-bit
// process ID and secret); Front compares the secret in constant time and
// calls that session's Opened.Cancel. Errors reach the client as
// ErrorResponse: an *Error from Open as it is, anything else as FATAL 08006
// with a reference that is logged next to the internal cause.
//
// # Connector half: Dial, Upstream
//
// Dial logs in to the target with the connector's own credentials through
// pgconn (SCRAM-SHA-256, MD5, cleartext or trust; TLS disable, require or
// verify-full) and hijacks the connection. Upstream.Relay then carries the
// session between the client stream and the target:
//
//	client -> target   framed by type byte and length over a bufio.Reader.
//	                   Query, Parse, Bind, Execute, Close, Sync, FunctionCall
//	                   and Terminate are decoded (pgproto3) and tracked; every
//	                   other message (Describe, Flush, CopyData, ...) is copied
//	                   through raw. A Statement event goes to the Recorder
//	                   before its Query, Execute or FunctionCall is forwarded;
//	                   if recording fails the session ends (fail closed).
//	target -> client   CommandComplete, EmptyQueryResponse, PortalSuspended,
//	                   ErrorResponse, FunctionCallResponse and ReadyForQuery
//	                   are decoded; DataRows are counted and, like everything
//	                   else (RowDescription, CopyData, NoticeResponse,
//	                   NotificationResponse, ParameterStatus), copied through
//	                   raw. Each completion gives the Recorder a Result.
//
// # Deciding statements: block and hold
//
// Upstream.Check decides each Query, Execute and FunctionCall before it is
// recorded and forwarded; it may block to hold the statement for review,
// during which the client direction waits while the target direction keeps
// flowing, and may send the client NoticeResponses (written under the lock
// that the target direction releases between messages). A denied statement
// is not answered by the engine: a stand-in that the server is certain to
// reject is forwarded in its place, so the server fails in exactly that
// position, and its ErrorResponse is rewritten into the Denial (severity
// ERROR, the Denial's code and message, no position or detail):
//
//	denied               forwarded instead              server answers
//	Query (any string)   Query "SELECT gatehouse_denied("   42601, ReadyForQuery
//	Execute              Bind of deniedStatement        26000, skips to Sync
//	FunctionCall         FunctionCall of OID 0          42883 (25P02), ReadyForQuery
//
// The ReadyForQuery passes untouched, so client and server agree on the
// transaction state: a denial inside a transaction block aborts it ('E'),
// and one in a pipelined batch rolls back the batch's implicit transaction,
// as a real failure would. The client's messages after a denied Execute
// go through as usual (the server ignores them until Sync), as do CopyData,
// CopyDone and CopyFail after a denied COPY FROM STDIN (the server ignores
// them outside COPY). deniedStatement is longer than NAMEDATALEN-1, so SQL
// PREPARE cannot make it, and a client Parse of it ends the session. Only
// an ERROR answering the denied request itself, at the front of the FIFO
// and outside a skip to Sync, is rewritten; anything else passes as it is.
//
// Statements and results are matched through a FIFO of outstanding
// requests: a simple Query yields one Result per statement in its string
// until ReadyForQuery; each Execute yields one Result; a Sync marks the end
// of an extended batch, and after an ErrorResponse the server skips to that
// Sync, so the executes it skipped are dropped when its ReadyForQuery
// arrives. Pipelined batches (many Parse/Bind/Execute before one Sync, or
// several batches before the first ReadyForQuery) follow from the FIFO.
//
// Each direction writes through a bufio.Writer that is flushed only when no
// complete message is left buffered on its read side, so a pipelined batch
// costs one write. Bodies larger than the read buffer stream through in
// chunks (a large Bind is parsed as it streams, keeping the first 1 KiB of
// each parameter), so a 64 MiB bytea or a million-row result passes at
// constant memory. Messages are capped at 1 GiB, the protocol's maximum.
package postgres
