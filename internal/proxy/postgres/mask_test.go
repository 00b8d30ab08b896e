package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/mask"
	"github.com/gatehouse-dev/gatehouse/internal/proxy/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Values that must never reach a client or a recording unmasked.
const (
	rawSSN   = "123-45-6789"
	rawCard  = "4242 4242 4242 4242"
	rawCard2 = "5555555555554444"
	rawEmail = "alice.smith@example.com"
	rawNote  = "call +1 415 555 2671 or 10.1.2.3"
)

var maskSecrets = []string{rawSSN, rawCard, rawCard2, "4242424242424242", rawEmail, "alice.smith", "415 555 2671", "10.1.2.3"}

const maskSchema = `
CREATE TABLE customers (
	id int PRIMARY KEY, name text, email text UNIQUE, ssn text, card text,
	card_num numeric, card_int bigint, note jsonb, raw bytea, plain_id bigint
);
INSERT INTO customers VALUES
	(1, 'Alice', 'alice.smith@example.com', '123-45-6789', '4242 4242 4242 4242',
	 5555555555554444, 5555555555554444, '{"card": "4242 4242 4242 4242", "n": 1}',
	 convert_to('note: 4242 4242 4242 4242', 'UTF8'), 1234567890123456);
CREATE VIEW v_cust AS SELECT id, ssn AS tax_id, upper(email) AS loud FROM customers;
CREATE VIEW v_v AS SELECT tax_id AS t2 FROM v_cust;
`

// pii is the masking profile the tests attach.
var pii = mask.Profile{
	Columns: []mask.ColumnRule{{Match: "customers.ssn"}, {Match: "*.email", With: "partial"}},
	Detect:  []string{"credit_card", "email", "phone", "us_ssn", "iban", "ipv4", "jwt", "aws_key", "private_key"},
}

func maskingFor(t testing.TB, p mask.Profile) func(postgres.Target) *postgres.Masking {
	m, err := mask.Compile(map[string]mask.Profile{"pii": p}, []string{"pii"}, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return func(target postgres.Target) *postgres.Masking {
		cols := &postgres.Columns{Target: target}
		t.Cleanup(func() { cols.Close() })
		return &postgres.Masking{Masker: m, Columns: cols.Resolve, Invalidate: cols.Invalidate, Generation: cols.Generation}
	}
}

// tap relays a client to addr and keeps every byte the client receives.
type tap struct {
	Addr string
	mu   sync.Mutex
	got  bytes.Buffer
}

func startTap(t testing.TB, addr string) *tap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{Addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				io.Copy(io.MultiWriter(c, tp), s)
				c.Close()
			}()
		}
	}()
	return tp
}

func (tp *tap) Write(b []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.got.Write(b)
}

func (tp *tap) received() string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.got.String()
}

func (tp *tap) dsn(p *proxy) string {
	return strings.Replace(p.DSN("disable"), p.Addr, tp.Addr, 1)
}

func TestMaskResults(t *testing.T) {
	p := startProxy(t, proxyOptions{mask: maskingFor(t, pii)})
	mustExec(t, connect(t, p.target.DSN(p.DB)), maskSchema)
	tp := startTap(t, p.Addr)
	ctx := context.Background()

	for _, m := range execModes {
		t.Run(m.name, func(t *testing.T) {
			conn := connectMode(t, tp.dsn(p), m.mode, nil)
			var (
				id                                 int
				name, email, ssn, card             string
				cardNum, cardInt, note, raw, plnID any
			)
			err := conn.QueryRow(ctx, "SELECT id, name, email, ssn, card, card_num, card_int, note, raw, plain_id FROM customers").
				Scan(&id, &name, &email, &ssn, &card, &cardNum, &cardInt, &note, &raw, &plnID)
			if err != nil {
				t.Fatal(err)
			}
			if id != 1 || name != "Alice" {
				t.Errorf("unmasked columns changed: id %d name %q", id, name)
			}
			if email != "a***@example.com" {
				t.Errorf("email: got %q, want a***@example.com", email)
			}
			if ssn != "[REDACTED]" {
				t.Errorf("ssn: got %q, want [REDACTED]", ssn)
			}
			if card != "[REDACTED:credit_card]" {
				t.Errorf("card: got %q", card)
			}
			if cardNum != nil || cardInt != nil {
				t.Errorf("numeric and bigint card numbers: got %v and %v, want NULL", cardNum, cardInt)
			}
			nb, _ := json.Marshal(note)
			if !strings.Contains(string(nb), "[REDACTED:credit_card]") || !strings.Contains(string(nb), `"n":1`) {
				t.Errorf("jsonb note: got %s", nb)
			}
			if rb, ok := raw.([]byte); !ok || string(rb) != "note: [REDACTED:credit_card]" {
				t.Errorf("bytea: got %q", raw)
			}
			if v, ok := plnID.(int64); !ok || v != 1234567890123456 {
				t.Errorf("a bigint that is no card number: got %v", plnID)
			}

			// An alias, a view and a view of a view still hit the column rule;
			// an expression goes through the detectors.
			for _, q := range []string{
				"SELECT ssn AS x FROM customers",
				"SELECT tax_id FROM v_cust",
				"SELECT t2 FROM v_v",
			} {
				var v string
				if err := conn.QueryRow(ctx, q).Scan(&v); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				if v != "[REDACTED]" {
					t.Errorf("%s: got %q, want [REDACTED]", q, v)
				}
			}
			var loud, concat string
			if err := conn.QueryRow(ctx, "SELECT loud, concat(ssn, '') FROM v_cust JOIN customers USING (id)").Scan(&loud, &concat); err != nil {
				t.Fatal(err)
			}
			if loud != "A***@EXAMPLE.COM" && !strings.Contains(loud, "[REDACTED:email]") {
				t.Errorf("upper(email) through a view: got %q", loud)
			}
			if concat != "[REDACTED:us_ssn]" {
				t.Errorf("concat(ssn): got %q", concat)
			}

			// The error of a unique violation quotes the value.
			_, err = conn.Exec(ctx, "INSERT INTO customers (id, email) VALUES (2, 'alice.smith@example.com')")
			var pgErr *pgconn.PgError
			if !asErr(err, &pgErr) || pgErr.Code != "23505" {
				t.Fatalf("duplicate email: got %v, want 23505", err)
			}
			if strings.Contains(pgErr.Detail, "alice") || !strings.Contains(pgErr.Detail, "Key (email)=(") {
				t.Errorf("unique violation detail: got %q", pgErr.Detail)
			}
		})
	}

	got := tp.received()
	for _, s := range maskSecrets {
		if strings.Contains(got, s) {
			t.Errorf("the client received %q", s)
		}
	}
	if !strings.Contains(got, "Alice") {
		t.Error("the tap saw none of the unmasked values")
	}

	// The recording has the rules that fired and no raw value.
	fired := map[string]int{}
	var rec strings.Builder
	for _, e := range p.Rec.snapshot() {
		b, _ := json.Marshal(e)
		rec.Write(b)
		if e.Res != nil {
			for _, h := range e.Res.Masked {
				fired[h.Rule] += h.Count
			}
		}
	}
	for _, s := range maskSecrets {
		if strings.Contains(rec.String(), s) {
			t.Errorf("the recording holds %q", s)
		}
	}
	for _, r := range []string{"customers.ssn", "*.email", "credit_card", "us_ssn"} {
		if fired[r] == 0 {
			t.Errorf("no hits recorded for %s (got %v)", r, fired)
		}
	}
}

func asErr(err error, target **pgconn.PgError) bool {
	pe, ok := err.(*pgconn.PgError)
	if ok {
		*target = pe
	}
	return ok
}

func TestMaskCopyAndStatements(t *testing.T) {
	detectOnly := mask.Profile{Detect: pii.Detect}
	p := startProxy(t, proxyOptions{mask: maskingFor(t, detectOnly)})
	mustExec(t, connect(t, p.target.DSN(p.DB)), maskSchema)
	tp := startTap(t, p.Addr)
	ctx := context.Background()
	conn := connect(t, tp.dsn(p))

	var out bytes.Buffer
	if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY customers (id, name, card, note) TO STDOUT"); err != nil {
		t.Fatal(err)
	}
	want := "1\tAlice\t[REDACTED:credit_card]\t{\"n\": 1, \"card\": \"[REDACTED:credit_card]\"}\n"
	if out.String() != want {
		t.Errorf("COPY TO: got %q, want %q", out.String(), want)
	}
	out.Reset()
	if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY customers (id, card) TO STDOUT (FORMAT binary)"); err == nil || !strings.Contains(err.Error(), "cannot be masked") {
		t.Errorf("binary COPY TO: got %v, want a refusal", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("session after a refused COPY: %v", err)
	}

	// What the client writes is recorded masked; the target gets it whole.
	mustExec(t, conn, "INSERT INTO customers (id, card) VALUES (3, '5555555555554444')")
	mustExec(t, conn, "INSERT INTO customers (id, card) VALUES ($1, $2)", 4, rawCard)
	var n int
	direct := connect(t, p.target.DSN(p.DB))
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM customers WHERE card IN ($1, $2)", rawCard2, rawCard).Scan(&n); err != nil || n != 3 {
		t.Fatalf("rows stored on the target with the real values: %d, %v", n, err)
	}
	var rec strings.Builder
	for _, e := range p.Rec.snapshot() {
		b, _ := json.Marshal(e)
		rec.Write(b)
	}
	for _, s := range maskSecrets {
		if strings.Contains(rec.String(), s) {
			t.Errorf("the recording holds %q", s)
		}
	}
	if !strings.Contains(rec.String(), "[REDACTED:credit_card]") {
		t.Error("the recorded statements show no masking")
	}
	if strings.Contains(tp.received(), "4242 4242") {
		t.Error("the client received a card number")
	}
}

func TestMaskColumnRulesRefuseCopy(t *testing.T) {
	p := startProxy(t, proxyOptions{mask: maskingFor(t, pii)})
	mustExec(t, connect(t, p.target.DSN(p.DB)), maskSchema)
	conn := connect(t, p.DSN("disable"))
	ctx := context.Background()
	var out bytes.Buffer
	_, err := conn.PgConn().CopyTo(ctx, &out, "COPY customers TO STDOUT")
	var pgErr *pgconn.PgError
	if !asErr(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("COPY TO under column rules: got %v, want 42501", err)
	}
	if out.Len() != 0 {
		t.Errorf("COPY TO sent %q before the refusal", out.String())
	}
	rows, err := conn.Query(ctx, "SELECT ssn FROM customers", pgx.QueryResultFormats{pgx.BinaryFormatCode})
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if v := string(rows.RawValues()[0]); v != "[REDACTED]" {
			t.Errorf("binary text column: got %q", v)
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
}

func TestMaskViewRedefined(t *testing.T) {
	masking := maskingFor(t, pii)
	var shared *postgres.Masking
	p := startProxy(t, proxyOptions{mask: func(target postgres.Target) *postgres.Masking {
		// One name cache per database, as the connector keeps it.
		if shared == nil {
			shared = masking(target)
		}
		return shared
	}})
	mustExec(t, connect(t, p.target.DSN(p.DB)), maskSchema+"CREATE VIEW v AS SELECT name AS x FROM customers;")
	ctx := context.Background()
	a := connectMode(t, p.DSN("disable"), pgx.QueryExecModeSimpleProtocol, nil)
	var x string
	if err := a.QueryRow(ctx, "SELECT x FROM v").Scan(&x); err != nil || x != "Alice" {
		t.Fatalf("before: got %q, %v", x, err)
	}
	// Another session redefines the view to show a masked column.
	mustExec(t, connect(t, p.DSN("disable")), "CREATE OR REPLACE VIEW v AS SELECT ssn AS x FROM customers")
	if err := a.QueryRow(ctx, "SELECT x FROM v").Scan(&x); err != nil || x != "[REDACTED]" {
		t.Fatalf("after the view changed: got %q, %v", x, err)
	}
	// A value echoed in an error goes through the detectors.
	_, err := a.Exec(ctx, "SELECT '"+rawCard+"'::int")
	var pgErr *pgconn.PgError
	if !asErr(err, &pgErr) || strings.Contains(pgErr.Message, "4242") || !strings.Contains(pgErr.Message, "[REDACTED:credit_card]") {
		t.Errorf("error echoing a card number: got %v", err)
	}
}

// TestMaskRedTeam holds the leaks a red-team review found, each now masked.
func TestMaskRedTeam(t *testing.T) {
	p := startProxy(t, proxyOptions{mask: maskingFor(t, pii)})
	mustExec(t, connect(t, p.target.DSN(p.DB)), maskSchema+`
		CREATE VIEW sysv AS SELECT ctid AS t, ssn FROM customers;
		CREATE VIEW wr AS SELECT c, c.ssn FROM customers c;
		CREATE VIEW sv AS SELECT name AS c FROM customers;`)
	tp := startTap(t, p.Addr)
	ctx := context.Background()
	for _, m := range execModes {
		t.Run(m.name, func(t *testing.T) {
			var notices []*pgconn.Notice
			conn := connectMode(t, tp.dsn(p), m.mode, func(cc *pgx.ConnConfig) {
				cc.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n) }
			})
			for _, q := range []string{
				"SELECT (card, 1)::text FROM customers",
				"SELECT json_agg(E'note:\\n' || card)::text FROM customers",
				"SELECT card_num::float8, card_int::float4 FROM customers",
				"SELECT array[card_int]::text FROM customers",
				"SELECT array[card_int] FROM customers",
				"SELECT row(card_num) FROM customers",
				"SELECT t::text, ssn FROM sysv",
				"SELECT ssn FROM wr",
			} {
				rows, err := conn.Query(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				for rows.Next() {
				}
				if err := rows.Err(); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			mustExec(t, conn, "SELECT set_config('application_name', card, false) FROM customers")
			if v := conn.PgConn().ParameterStatus("application_name"); strings.Contains(v, "4242") {
				t.Errorf("ParameterStatus application_name: %q", v)
			}
			mustExec(t, conn, `DO $$DECLARE v text; BEGIN SELECT card INTO v FROM customers; RAISE NOTICE 'n' USING TABLE = v, SCHEMA = v; END$$`)
			if len(notices) == 0 || strings.Contains(notices[len(notices)-1].TableName, "4242") || strings.Contains(notices[len(notices)-1].SchemaName, "4242") {
				t.Errorf("notice fields: %+v", notices)
			}
			mustExec(t, conn, "SET bytea_output = escape")
			rows, err := conn.Query(ctx, "SELECT convert_to(E'\\n' || card, 'UTF8') FROM customers")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				if b := rows.RawValues()[0]; strings.Contains(string(b), "4242") || !strings.Contains(string(b), "REDACTED") {
					t.Errorf("bytea in escape form: %q", b)
				}
			}
			rows.Close()
			mustExec(t, conn, "RESET bytea_output")
			// A view redefined inside a DO block.
			var c string
			if err := conn.QueryRow(ctx, "SELECT c FROM sv").Scan(&c); err != nil || c != "Alice" {
				t.Fatalf("sv before: %q, %v", c, err)
			}
			mustExec(t, conn, `DO $$BEGIN EXECUTE 'CREATE OR REPLACE VIEW sv AS SELECT ssn AS c FROM customers'; END$$`)
			if err := conn.QueryRow(ctx, "SELECT c FROM sv").Scan(&c); err != nil || c != "[REDACTED]" {
				t.Errorf("sv after a DO block redefined it: %q, %v", c, err)
			}
			mustExec(t, conn, `DO $$BEGIN EXECUTE 'CREATE OR REPLACE VIEW sv AS SELECT name AS c FROM customers'; END$$`)
		})
	}
	got := tp.received()
	for _, s := range append(maskSecrets, "4242424242424242", "5.555555555554444e+15", "5555555555554444") {
		if strings.Contains(got, s) {
			t.Errorf("the client received %q", s)
		}
	}
}
