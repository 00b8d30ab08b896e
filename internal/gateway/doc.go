// Package gateway is gatehouse's composition root. It builds the store,
// token issuer, policy set, signing key and TLS material from a
// configuration; starts the client-facing listeners (PostgreSQL, the HTTP
// API) and the tunnel listener for connectors; routes each authorized
// session to the connector that serves its connection; and ingests the
// events connectors ship, signing each session's closing event.
//
// Start order: data dir, store, keys and certificates, policies, embedded
// connector (in `up` mode), tunnel, protocol listeners, API. Close stops
// them in reverse and waits for every goroutine.
package gateway
