package saml

import (
	"container/heap"
	"time"
)

// expiringSet holds keys until they expire, at most max of them. It is not
// safe for concurrent use; SP guards it with its mutex.
//
// The heap, not the map, measures the size: a removed key leaves its heap
// entry behind until it expires or is evicted, and counting those keeps
// memory bounded however fast keys are added and removed.
type expiringSet struct {
	max  int
	keys map[string]time.Time
	h    expiryHeap
}

func newExpiringSet(max int) *expiringSet {
	return &expiringSet{max: max, keys: make(map[string]time.Time)}
}

// has reports whether key is held and not expired at now.
func (s *expiringSet) has(key string, now time.Time) bool {
	exp, ok := s.keys[key]
	return ok && now.Before(exp)
}

// remove drops key.
func (s *expiringSet) remove(key string) { delete(s.keys, key) }

// full reports whether an add at now would need to evict a live key.
func (s *expiringSet) full(now time.Time) bool {
	s.sweep(now)
	return len(s.h) >= s.max
}

// add holds key until exp. If the set is full of unexpired keys, the one
// expiring first is evicted; callers that must not lose a live key check
// full first.
func (s *expiringSet) add(key string, exp, now time.Time) {
	s.sweep(now)
	for len(s.h) >= s.max {
		s.pop()
	}
	s.keys[key] = exp
	heap.Push(&s.h, expiry{key: key, exp: exp})
}

// sweep drops the keys that have expired at now.
func (s *expiringSet) sweep(now time.Time) {
	for len(s.h) > 0 && !now.Before(s.h[0].exp) {
		s.pop()
	}
}

func (s *expiringSet) pop() {
	e := heap.Pop(&s.h).(expiry)
	// The key may have been removed, or added again with a later expiry.
	if exp, ok := s.keys[e.key]; ok && exp.Equal(e.exp) {
		delete(s.keys, e.key)
	}
}

type expiry struct {
	key string
	exp time.Time
}

// expiryHeap is a min-heap of expiries, earliest first.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
