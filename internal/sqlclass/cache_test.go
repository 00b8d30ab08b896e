package sqlclass

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestCacheSharesAndBounds(t *testing.T) {
	c := NewCache(2)
	a1, err := c.Classify("SELECT * FROM a")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := c.Classify("SELECT * FROM a")
	if a1 != a2 {
		t.Errorf("second lookup: got a new *Result, want the cached one")
	}
	c.Classify("SELECT * FROM b")
	c.Classify("SELECT * FROM c") // evicts a, the least recently used
	if got := c.Len(); got != 2 {
		t.Errorf("Len: got %d, want 2", got)
	}
	if a3, _ := c.Classify("SELECT * FROM a"); a3 == a1 {
		t.Errorf("after eviction: got the old *Result, want a new one")
	}

	if _, err := c.Classify("SELEC 1"); err == nil {
		t.Errorf("parse error: got nil, want an error")
	}
	if _, err := c.Classify("SELEC 1"); err == nil {
		t.Errorf("cached parse error: got nil, want an error")
	}

	big := "SELECT 1 /*" + strings.Repeat("x", MaxCachedText) + "*/"
	if _, err := c.Classify(big); err != nil {
		t.Fatal(err)
	}
	r1, _ := c.Classify(big)
	r2, _ := c.Classify(big)
	if r1 == r2 {
		t.Errorf("text over MaxCachedText: got a cached *Result, want none cached")
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := NewCache(16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				sql := fmt.Sprintf("SELECT %d FROM t%d WHERE a = %d", i%32, g%2, i%5)
				res, err := c.Classify(sql)
				if err != nil || len(res.Statements) != 1 {
					t.Errorf("Classify(%q): got %v, %v", sql, res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() > 16 {
		t.Errorf("Len: got %d, want at most 16", c.Len())
	}
}

func TestCacheHitAllocs(t *testing.T) {
	c := NewCache(10)
	sql := benchSQL
	if _, err := c.Classify(sql); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Classify(sql); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("allocs per cache hit: got %v, want 0", allocs)
	}
}

const benchSQL = `SELECT o.id, o.created_at, c.name, c.email, sum(li.qty * li.price) AS total
FROM app.orders o
JOIN app.customers c ON c.id = o.customer_id
LEFT JOIN app.line_items li ON li.order_id = o.id
WHERE o.created_at > now() - interval '7 days' AND c.region IN ('eu', 'us') AND o.status <> 'void'
GROUP BY o.id, o.created_at, c.name, c.email
HAVING sum(li.qty * li.price) > 100
ORDER BY total DESC
LIMIT 50`

func BenchmarkClassify(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Classify(benchSQL); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCacheHit(b *testing.B) {
	c := NewCache(10_000)
	if _, err := c.Classify(benchSQL); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Classify(benchSQL); err != nil {
			b.Fatal(err)
		}
	}
}
