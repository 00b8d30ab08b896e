// Package api serves gatehouse's HTTP API: who am I, sessions and their
// recordings, recording verification, tokens and connectors.
//
// Every route under /api/v1/ takes JSON and answers JSON, and needs an
// "Authorization: Bearer <token>" header; /healthz needs none. Errors have
// one shape, {"error": message, "ref": correlation-id}: the message is safe
// to show a user, and the internal cause is logged under the same ref.
//
// Visibility: an admin sees every session; anyone else sees only the
// sessions of their own identity, and asking for another identity's session
// answers 404 exactly as for an unknown ID, so IDs do not leak. Token,
// join-token and connector routes are for admins only.
//
// The server owns no state: it reads the store, and the token and connector
// actions that must stay in one place (issuing, revoking, join tokens,
// liveness, signatures) are func fields wired by the gateway.
package api
