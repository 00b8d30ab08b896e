package saml

import (
	"fmt"
	"testing"
	"time"
)

func TestExpiringSet(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := newExpiringSet(3)
	s.add("a", t0.Add(time.Minute), t0)
	s.add("b", t0.Add(2*time.Minute), t0)
	if !s.has("a", t0) || !s.has("b", t0) {
		t.Fatal("added keys missing")
	}
	if s.has("a", t0.Add(time.Minute)) {
		t.Error("a held at its expiry")
	}
	s.add("c", t0.Add(3*time.Minute), t0)
	if !s.full(t0) {
		t.Error("full = false with 3 of 3 live keys")
	}
	if s.full(t0.Add(time.Minute)) {
		t.Error("full = true after a expired")
	}
	// Full of live keys: add evicts the one expiring first.
	s.add("d", t0.Add(4*time.Minute), t0.Add(time.Minute))
	s.add("e", t0.Add(5*time.Minute), t0.Add(time.Minute))
	if s.has("b", t0.Add(time.Minute)) {
		t.Error("b not evicted")
	}
	for _, k := range []string{"c", "d", "e"} {
		if !s.has(k, t0.Add(time.Minute)) {
			t.Errorf("%s missing", k)
		}
	}
	// Removed keys still count until their entry leaves the heap, so
	// the heap never outgrows max.
	for i := range 10 {
		k := fmt.Sprint("r", i)
		s.add(k, t0.Add(time.Hour), t0.Add(time.Minute))
		s.remove(k)
		if len(s.h) > s.max || len(s.keys) > s.max {
			t.Fatalf("heap %d, map %d, max %d", len(s.h), len(s.keys), s.max)
		}
	}
	// A key added again keeps its later expiry when the old entry pops.
	s = newExpiringSet(2)
	s.add("k", t0.Add(time.Minute), t0)
	s.add("k", t0.Add(time.Hour), t0)
	if !s.has("k", t0.Add(2*time.Minute)) {
		t.Error("re-added key lost its later expiry")
	}
}
