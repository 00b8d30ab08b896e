package sqlclass

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// FuzzClassify checks that Classify never panics, that it finds a statement
// wherever the scanner sees a token other than comments and semicolons,
// that every statement has a kind, and that Cache.Classify agrees.
// Seeds: testdata/fuzz/FuzzClassify and the golden cases.
func FuzzClassify(f *testing.F) {
	for _, tc := range classifyCases {
		f.Add(tc.sql)
	}
	c := NewCache(64)
	f.Fuzz(func(t *testing.T, sql string) {
		res, err := Classify(sql)
		cres, cerr := c.Classify(sql)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Classify error %v, Cache.Classify error %v", err, cerr)
		}
		if err != nil {
			if res != nil {
				t.Fatalf("got a result with error %v", err)
			}
			return
		}
		if diff := cmp.Diff(res, cres); diff != "" {
			t.Fatalf("Cache.Classify differs (-Classify +Cache):\n%s", diff)
		}
		for i, st := range res.Statements {
			if len(st.Kinds) == 0 {
				t.Fatalf("statement %d: no kinds", i)
			}
		}
		if len(res.Statements) > 0 {
			return
		}
		scan, err := scanTokens(sql)
		if err != nil {
			return
		}
		for _, tok := range scan.Tokens {
			switch tok.Token {
			case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT, pg_query.Token_ASCII_59:
			default:
				t.Fatalf("no statements, but the scanner sees token %v", tok.Token)
			}
		}
	})
}
