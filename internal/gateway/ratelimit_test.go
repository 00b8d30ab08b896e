package gateway

import (
	"testing"
	"time"
)

func TestFailLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &failLimiter{now: func() time.Time { return now }}
	for i := range failsAllowed {
		if l.blocked("src:a") {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail("src:a")
	}
	if !l.blocked("src:a") {
		t.Fatalf("not blocked after %d failures", failsAllowed)
	}
	if l.blocked("src:b") || l.blocked("id:alice") {
		t.Error("other keys are blocked too")
	}
	now = now.Add(failWindow)
	if l.blocked("src:a") {
		t.Error("still blocked after the window")
	}
	l.fail("src:a")
	if l.blocked("src:a") {
		t.Error("one failure in a new window blocks")
	}
}

func TestFailLimiterBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := &failLimiter{now: func() time.Time { return now }}
	for i := range maxFailKeys + 10 {
		l.fail(string(rune(i)))
	}
	if len(l.m) > maxFailKeys {
		t.Errorf("limiter holds %d keys, want at most %d", len(l.m), maxFailKeys)
	}
}
