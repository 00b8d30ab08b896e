// Package connector is the in-network side of gatehouse. It holds the
// target addresses and credentials, opens sessions to the targets for the
// gateway, runs the protocol engines on them, and writes every session's
// events through a hash chain into a write-ahead spool that ships to the
// gateway.
//
// In `up` mode the gateway calls Connector.Open and Session.Run in process,
// handing over the client connection itself. In split mode the connector
// dials out to the gateway (see package tunnel); each session arrives as a
// stream whose first frame is a Request, answered by a Reply frame, after
// which the stream carries the client's protocol bytes. A stream whose
// Request has Kind "cancel" asks to cancel a live session's current
// statement. The connector opens one stream of its own to ship spooled
// events, as frames of event batches, each acknowledged by the gateway.
package connector
