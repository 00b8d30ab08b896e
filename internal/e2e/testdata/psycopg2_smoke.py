"""psycopg2 through a gatehouse gateway.

Usage: python3 psycopg2_smoke.py "<libpq connection string>"
The token comes in PGPASSWORD. Prints OK and exits 0 when every check
passes; prints what failed and exits 1 otherwise.
"""
import sys

import psycopg2
import psycopg2.errors


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)


def main():
    conn = psycopg2.connect(sys.argv[1])
    check(conn.info.ssl_in_use, "the connection to the gateway does not use TLS")
    cur = conn.cursor()
    cur.execute("CREATE TABLE py_t (id int PRIMARY KEY, name text, score float8)")
    cur.execute("INSERT INTO py_t VALUES (%s, %s, %s)", (1, "O'Brien", 1.5))
    cur.executemany(
        "INSERT INTO py_t VALUES (%s, %s, %s)",
        [(i, "name %d" % i, i / 2.0) for i in range(2, 52)],
    )
    conn.commit()
    cur.execute("SELECT name, score FROM py_t WHERE id = %s", (1,))
    check(cur.fetchone() == ("O'Brien", 1.5), "parameterized select of row 1")
    cur.execute("SELECT count(*), sum(id) FROM py_t WHERE id >= %(low)s", {"low": 2})
    check(cur.fetchone() == (50, sum(range(2, 52))), "executemany rows")

    # A server error is raised as the right exception, the transaction is
    # aborted until rollback, and the connection stays usable.
    try:
        cur.execute("SELECT * FROM no_such_table_py")
        check(False, "selecting from a missing table did not fail")
    except psycopg2.errors.UndefinedTable as e:
        check(e.pgcode == "42P01", "pgcode %s, want 42P01" % e.pgcode)
    try:
        cur.execute("SELECT 1")
        check(False, "a statement in an aborted transaction did not fail")
    except psycopg2.errors.InFailedSqlTransaction:
        pass
    conn.rollback()
    try:
        cur.execute("INSERT INTO py_t VALUES (%s, %s, %s)", (1, "dup", 0))
        check(False, "a duplicate key did not fail")
    except psycopg2.errors.UniqueViolation as e:
        check(e.diag.constraint_name == "py_t_pkey", "constraint %s" % e.diag.constraint_name)
    conn.rollback()
    cur.execute("SELECT count(*) FROM py_t")
    check(cur.fetchone()[0] == 51, "row count after errors")

    # Server-side (named) cursor: DECLARE and FETCH through the gateway.
    named = conn.cursor(name="py_cursor")
    named.itersize = 7
    named.execute("SELECT id FROM py_t ORDER BY id")
    ids = [r[0] for r in named]
    check(ids == list(range(1, 52)), "named cursor rows")
    named.close()
    conn.commit()
    conn.close()
    print("OK")


if __name__ == "__main__":
    main()
