// Package storetest is the conformance suite that every store driver
// passes. A driver's test calls Run with a function that opens a fresh,
// empty store for one subtest:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
//			...
//			t.Cleanup(func() { db.Close() })
//			return db
//		})
//	}
//
// Besides what store.go documents, the suite pins down behaviour callers
// rely on: ListTokens is ordered by IssuedAt, ListConnectors by Name;
// CreateX on an existing key fails with store.ErrConflict; RevokeToken and
// EndSession keep their first effect; SignSession keeps the first
// signature; times round-trip to within time.Equal; ListReviews is newest
// first; of concurrent votes on a review exactly one decides it.
package storetest
