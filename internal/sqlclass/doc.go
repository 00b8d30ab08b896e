// Package sqlclass classifies SQL text with PostgreSQL's own parser
// (libpg_query through github.com/pganalyze/pg_query_go/v6) so that the rest
// of gatehouse sees statement kinds, tables and functions, never parse trees.
//
// Classify parses a (possibly multi-statement) string and returns one
// Statement per top-level statement. Each Statement lists every Kind found
// anywhere in its tree, the top-level kind first: DML inside CTEs, MERGE
// actions, COPY (query) TO, EXPLAIN ANALYZE, PREPARE, CREATE RULE actions,
// SQL-standard function bodies and the SQL embedded in DO blocks and in
// LANGUAGE sql / plpgsql function bodies all contribute. Tables come from every
// RangeVar in the tree (plus the objects of DROP and GRANT), functions from
// every FuncCall.
//
// What cannot be seen statically is over-approximated, never dropped: a DO
// block or function body in a language other than plpgsql/sql, PL/pgSQL that
// libpg_query cannot compile, and dynamic EXECUTE of a non-constant string
// mark the Statement Opaque, give it every Kind (AllKinds) and set
// MissingWhere. Tables and Functions are then necessarily incomplete.
//
// The package is pure: no I/O, no logging, no package-level mutable state.
// Classify is safe for concurrent use; Cache memoizes it by exact text.
//
// The session, not the text, decides some of how the server reads it: with
// standard_conforming_strings off a backslash in a plain string is an
// escape, so a text with one is classified both ways and its Statements
// hold both readings when they differ; in an unsafe client encoding (SJIS,
// BIG5, ...) a backslash after a high byte is part of a character, so such
// a text is an error (escapes.go).
//
// A parse error means PostgreSQL would reject the text too; callers fail
// closed (deny when the policy has deny or review rules). Error strings come
// from the parser and may quote a fragment of the SQL text.
package sqlclass
