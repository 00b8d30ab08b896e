// Package archtest holds tests that keep gatehouse's package layering true:
// the pure packages stay pure, and production code never imports testing.
package archtest
