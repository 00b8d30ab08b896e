// Package tunnel carries sessions between the gateway and its connectors.
//
// A connector runs inside the private network and has no inbound port: it
// dials out to the gateway's tunnel listener, and one TLS connection then
// carries every session as a multiplexed stream. Server is the gateway's
// end, Client the connector's.
//
// # Connections
//
// Every connection is TLS 1.3 with the ALPN protocol "gatehouse-tunnel/1".
// The gateway's certificate chain (leaf, then root) is issued by its internal
// CA (package pki). After the handshake the connector sends one hello frame
// and the gateway answers with one reply frame (frames are described below).
// A reply with "error" set carries a code; join_refused, name_mismatch and
// bad_request are permanent, and the connector stops instead of retrying.
//
// Enrollment, the first connection of a new connector:
//
//	connector                                   gateway
//	TLS, no client certificate; the server
//	chain must contain the CA whose SHA-256
//	the join token pins, and the leaf must be
//	a server certificate for the dialled host
//	{"v":1,"op":"enroll","name":N,
//	 "secret":S,"csr":CSR}              ------>  check the CSR's signature,
//	                                             Join(S) consumes the token and
//	                                             must return N, sign the CSR
//	                                             (CommonName N, client auth),
//	                                             Enrolled(N, serial)
//	                                    <------  {"v":1,"name":N,"cert":C,"ca":R}
//	store client.key (0600), ca.crt,
//	client.crt; close and connect
//
// The connector generates its key and never sends it. Join tokens
// ("ghj_" + base64url of a version byte, the CA fingerprint and a 32-byte
// secret, see NewJoinToken) are single use; the gateway stores only a hash
// of the secret.
//
// Every later connection is mutually authenticated:
//
//	TLS with client.crt, verified against ca.crt
//	{"v":1,"op":"connect"}              ------>  require a verified client
//	                                             certificate; its CommonName
//	                                             is the connector's name
//	                                    <------  {"v":1,"name":N}
//	yamux session (connector is the yamux client, gateway the yamux server)
//
// A new connection from a connector replaces its previous one. The connector
// reconnects after any loss with capped exponential backoff and jitter.
// Client certificates last Server.CertTTL (default one year) and are not
// renewed automatically: an expired connector must be enrolled again.
//
// # Streams
//
// Either side opens yamux streams (github.com/hashicorp/yamux), with
// per-stream flow control and a 4 MiB receive window. The gateway opens one
// stream per client session (Server.Open, handled by Client.Accept); the
// connector opens streams to ship recording events (Client.Open, handled by
// Server.Accept). Opening a stream costs no round trip: the opener writes at
// once. By convention the opener's first bytes are a JSON header frame that
// says what the stream is for (its schema belongs to the gateway and
// connector packages), followed by the session's raw bytes.
//
// Closing a stream is a half-close (yamux sends FIN): the closer may still
// read until the peer closes too, and a stream the peer never closes is
// reset after yamux's StreamCloseTimeout (5 minutes). Writes are split into
// frames of at most 64 KiB, and each frame's header and body go out in one
// TLS record, so a bulk transfer cannot hold keepalives or other sessions
// behind a window-sized frame. A connection whose writes stall for 30 s, or
// whose keepalive ping (every 15 s) goes unanswered, is closed and the
// connector reconnects.
//
// # Frames
//
// A frame is a 4-byte big-endian length followed by that many bytes of JSON
// (WriteFrame, ReadFrame); the body is at most MaxFrameSize (1 MiB) and
// never empty. ReadFrame reads exactly one frame, so raw bytes may follow
// it on the same stream.
//
// Bad input from a peer (a failed handshake, a malformed or oversize frame,
// another protocol) ends that connection and is logged at a limited rate;
// other connectors are unaffected.
package tunnel
