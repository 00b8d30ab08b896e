# client.py exercises psycopg2 through gatehouse: parameters (interpolated
# client-side, simple protocol), an error and recovery, COPY both ways.
# Usage: /usr/bin/python3 client.py DSN
import io
import sys

import psycopg2

conn = psycopg2.connect(sys.argv[1])
cur = conn.cursor()
cur.execute("CREATE TABLE py (id int PRIMARY KEY, note text)")
cur.executemany("INSERT INTO py VALUES (%s, %s)", [(1, "one"), (2, "it's two")])
conn.commit()
try:
    cur.execute("INSERT INTO py VALUES (%s, %s)", (1, "dup"))
except psycopg2.errors.UniqueViolation as e:
    print("error", e.pgcode)
    conn.rollback()
cur.copy_expert("COPY py FROM STDIN", io.StringIO("3\tthree\n4\tfour\n"))
out = io.StringIO()
cur.copy_expert("COPY (SELECT id FROM py ORDER BY id) TO STDOUT", out)
print("copy", out.getvalue().split())
cur.execute("SELECT note FROM py WHERE id = %s", (2,))
print("note", cur.fetchone()[0])
conn.commit()
conn.close()
