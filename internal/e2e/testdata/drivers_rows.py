"""asyncpg and psycopg 3 through a gatehouse gateway that masks and keeps rows.

Usage: python3 drivers_rows.py "<libpq connection string>" HOST PORT DBNAME
The token comes in PGPASSWORD; the database holds maskSeed. asyncpg reads
two cursors in turns (portals executed with row limits, interleaved) and
re-executes a prepared statement; psycopg 3 runs a pipeline, a server-side
cursor and binary results. Prints OK and exits 0 when every check passes.
"""
import asyncio
import os
import ssl
import sys

import asyncpg
import psycopg

dsn, host, port, db = sys.argv[1:5]


async def with_asyncpg():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c = await asyncpg.connect(host=host, port=int(port), user="pg", database=db,
                              password=os.environ["PGPASSWORD"], ssl=ctx,
                              server_settings={"application_name": "asyncpg-rows"})
    async with c.transaction():
        a = await c.cursor("SELECT g AS a_num, 'a' || g AS a_txt FROM generate_series(1, 6) g")
        b = await c.cursor("SELECT g * 10 AS b_num, email AS b_mail FROM generate_series(1, 6) g, customers WHERE id = 1")
        got = []
        for _ in range(3):
            got += [tuple(r) for r in await a.fetch(2)]
            got += [tuple(r) for r in await b.fetch(2)]
        assert got[:4] == [(1, 'a1'), (2, 'a2'), (10, 'a***@example.com'), (20, 'a***@example.com')], got
        assert got[-1] == (60, 'a***@example.com'), got
    rows = await c.fetch("SELECT id, ssn, card FROM customers ORDER BY id")
    assert [r['card'] for r in rows] == ['[REDACTED:credit_card]'] * 2, rows
    for i in range(4):
        email = await c.fetchval("SELECT email FROM customers WHERE id = $1", 1 + i % 2)
        assert email == ['a***@example.com', 'g***@example.org'][i % 2], email
    await c.close()


def with_psycopg():
    with psycopg.connect(dsn + " application_name=psycopg3-rows") as c:
        with c.pipeline():
            curs = [c.execute("SELECT id, email FROM customers WHERE id = %s", (1 + i % 2,)) for i in range(6)]
        assert [cur.fetchone()[1] for cur in curs[:2]] == ['a***@example.com', 'g***@example.org']
        with c.transaction():
            with c.cursor(name="srv") as cur:
                cur.itersize = 1
                cur.execute("SELECT ssn, name FROM customers ORDER BY id")
                rows = list(cur)
                assert [r[1] for r in rows] == ['Ada', 'Grace'], rows
                assert rows[0][0].startswith('[HASH:'), rows
        cur = c.cursor(binary=True)
        cur.execute("SELECT card, balance FROM customers ORDER BY id")
        row = cur.fetchone()
        assert row[0] == '[REDACTED:credit_card]' and float(row[1]) == 12.5, row


asyncio.run(with_asyncpg())
with_psycopg()
print("OK")
