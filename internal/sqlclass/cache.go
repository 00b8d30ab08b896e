package sqlclass

import (
	"container/list"
	"strings"
	"sync"
)

// Cache limits. Texts longer than MaxCachedText are classified every time;
// the texts held (keys and normalized copies) never exceed
// maxCachedBytes in total, whatever the entry count.
const (
	MaxCachedText  = 64 << 10
	maxCachedBytes = 64 << 20
)

// Cache memoizes Classify in a bounded LRU, keyed by the statement text
// with numeric constants blanked (see literalKey), so that statements
// differing only in numbers share one parse. It is safe for concurrent
// use. Parse errors are cached too. The zero value is not usable; call
// NewCache.
type Cache struct {
	size int

	mu     sync.Mutex
	lru    *list.List // of *cacheEntry, most recent first
	items  map[string]*list.Element
	bytes  int
	keyBuf []byte // literalKey's buffer, reused under mu
}

type cacheEntry struct {
	sql string
	res *Result
	err error
}

// NewCache returns a Cache holding at most size classifications (at least 1).
func NewCache(size int) *Cache {
	if size < 1 {
		size = 1
	}
	return &Cache{size: size, lru: list.New(), items: make(map[string]*list.Element)}
}

// Classify is Classify memoized. The returned *Result is shared with other
// callers and must be treated as read-only, slices included.
func (c *Cache) Classify(sql string) (*Result, error) {
	if len(sql) > MaxCachedText {
		return Classify(sql)
	}
	c.mu.Lock()
	k, blanked := literalKey(sql, c.keyBuf)
	var el *list.Element
	var hit bool
	if blanked {
		c.keyBuf = k
		el, hit = c.items[string(k)] // no allocation for the lookup
	} else {
		el, hit = c.items[sql]
	}
	if hit {
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		return e.res, e.err
	}
	key := sql
	if blanked {
		key = string(k) // copied before k's buffer can be reused
	}
	c.mu.Unlock()

	res, err := Classify(sql)
	e := &cacheEntry{sql: strings.Clone(key), res: res, err: err}

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		// Classified concurrently; keep the first so callers share one.
		c.lru.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		return e.res, e.err
	}
	c.items[e.sql] = c.lru.PushFront(e)
	c.bytes += e.cost()
	for c.lru.Len() > c.size || c.bytes > maxCachedBytes {
		old := c.lru.Remove(c.lru.Back()).(*cacheEntry)
		delete(c.items, old.sql)
		c.bytes -= old.cost()
	}
	return res, err
}

// Len returns the number of cached classifications.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (e *cacheEntry) cost() int {
	n := len(e.sql)
	if e.res != nil {
		n += len(e.res.Normalized)
	}
	return n
}
