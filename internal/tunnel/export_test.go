package tunnel

// Backoff exposes the reconnection delay computation to tests.
var Backoff = backoff
