package gateway

import (
	"sync"
	"time"
)

// Failed sign-ins allowed per key (a client address, an identity) in one
// window; past that the key is refused until the window ends.
const (
	failWindow   = time.Minute
	failsAllowed = 10
	// maxFailKeys bounds the limiter's memory; past it, expired entries
	// are swept, and if none expired the oldest window is dropped whole.
	maxFailKeys = 100_000
)

// failLimiter counts failed sign-ins per key in fixed windows.
type failLimiter struct {
	mu  sync.Mutex
	m   map[string]*failCount
	now func() time.Time
}

type failCount struct {
	start time.Time
	n     int
}

func (l *failLimiter) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// fail counts one failure for key.
func (l *failLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock()
	if l.m == nil {
		l.m = make(map[string]*failCount)
	}
	c := l.m[key]
	if c == nil || now.Sub(c.start) >= failWindow {
		if len(l.m) >= maxFailKeys {
			l.sweep(now)
		}
		c = &failCount{start: now}
		l.m[key] = c
	}
	c.n++
}

// blocked reports whether key has used up its failures in this window.
func (l *failLimiter) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.m[key]
	return c != nil && c.n >= failsAllowed && l.clock().Sub(c.start) < failWindow
}

func (l *failLimiter) sweep(now time.Time) {
	for k, c := range l.m {
		if now.Sub(c.start) >= failWindow {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxFailKeys {
		clear(l.m)
	}
}
