package sqlclass

import "testing"

func TestLiteralKey(t *testing.T) {
	tests := []struct {
		name, sql, key string
		ok             bool
	}{
		{"numbers blanked", "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;", "SELECT abalance FROM pgbench_accounts WHERE aid = ?;", true},
		{"decimals and exponents", "SELECT 1.5, .5, 2e10, 3E-2", "SELECT ?, ?, ?, ?", true},
		{"identifiers keep digits", "SELECT t1.c2 FROM s3.t1", "SELECT t1.c2 FROM s3.t1", true},
		{"parameters kept", "SELECT $1, $2", "SELECT $1, $2", true},
		{"strings kept", "SELECT '12', 'it''s 3', 4", "SELECT '12', 'it''s 3', ?", true},
		{"quoted identifiers kept", `SELECT "col 1" FROM "t 2"`, `SELECT "col 1" FROM "t 2"`, true},
		{"comments kept", "SELECT 1 -- 2\n/* 3 /* 4 */ */ + 5", "SELECT ? -- 2\n/* 3 /* 4 */ */ + ?", true},
		{"dollar bodies kept", "DO $b$ BEGIN PERFORM 1; END $b$; SELECT 7", "DO $b$ BEGIN PERFORM 1; END $b$; SELECT ?", true},
		{"anonymous dollar body", "SELECT $$a 1$$, 2", "SELECT $$a 1$$, ?", true},
		{"backslash in a string", `SELECT E'\'', 1`, "", false},
		{"unterminated string", "SELECT '1", "", false},
		{"unterminated comment", "SELECT 1 /* 2", "", false},
		{"odd number token", "SELECT 1abc", "", false},
		{"dot after a word", "SELECT.1", "SELECT.1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := literalKey(tt.sql, nil)
			if ok != tt.ok || (ok && string(k) != tt.key) {
				t.Errorf("got %q, %v; want %q, %v", k, ok, tt.key, tt.ok)
			}
		})
	}
}

// TestCacheSharesAcrossNumbers checks that statements differing only in
// numbers share one parse, and that the shared result is right for each.
func TestCacheSharesAcrossNumbers(t *testing.T) {
	c := NewCache(10)
	a, err := c.Classify("DELETE FROM t WHERE id = 1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Classify("DELETE FROM t WHERE id = 2")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || c.Len() != 1 {
		t.Errorf("got %d entries (shared: %v), want one shared entry", c.Len(), a == b)
	}
	d, _ := c.Classify("DELETE FROM t")
	if d == a || !d.Statements[0].MissingWhere || a.Statements[0].MissingWhere {
		t.Error("a statement with different words shared the entry")
	}
}

// FuzzLiteralKey checks that literalKey always ends, never grows the text,
// and is stable: blanking a key again changes nothing.
func FuzzLiteralKey(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT.1", "DO $x$ 1 $x$", "SELECT 'a''1', \"b\"\"2\", 3e5 -- 4", "/* /* */ */ 5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		k, ok := literalKey(sql, nil)
		if !ok {
			return
		}
		if len(k) > len(sql) {
			t.Fatalf("key %q longer than %q", k, sql)
		}
		k2, ok2 := literalKey(string(k), nil)
		if !ok2 || string(k2) != string(k) {
			t.Fatalf("key of key %q = %q, %v; want it unchanged", k, k2, ok2)
		}
	})
}
