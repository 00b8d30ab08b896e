// Package saml is gatehouse's SAML 2.0 service provider: people sign in
// through their organisation's identity provider (IdP), and the gateway
// learns who they are and which groups they are in.
//
// # Flow
//
// The gateway serves Metadata to the IdP's administrator, who registers
// the SP with the IdP, and reads the IdP's metadata (Config.IdPMetadata).
// To sign someone in it redirects the browser to AuthnRequestURL: a signed
// AuthnRequest with the HTTP-Redirect binding. The IdP authenticates the
// person and has the browser post a Response to Config.ACSURL with the
// HTTP-POST binding; the gateway hands that request to ParseResponse, which
// returns an Assertion (identity, groups, the RelayState) or refuses it.
// Other bindings (artifact, HTTP-POST-SimpleSign) are neither offered nor
// accepted: artifact resolution would make the gateway call the IdP on a
// browser's say-so.
//
// # What ParseResponse checks
//
// The engine is github.com/crewjam/saml's ServiceProvider.ParseXMLResponse.
// It checks the XML signatures with the certificates in the IdP metadata
// (SHA-1 refused), reading the Response and assertion from what the
// signatures cover; that the Response's Destination and the assertion's
// bearer SubjectConfirmationData Recipient are Config.ACSURL; the issuer of
// both against the IdP's entity ID; InResponseTo of both against the
// request being answered; status Success; IssueInstant no older than
// saml.MaxIssueDelay (90 s); NotBefore and NotOnOrAfter of Conditions and
// SubjectConfirmationData with saml.MaxClockSkew (3 min); an
// AudienceRestriction naming Config.EntityID; a Subject and an
// AuthnStatement. It decrypts encrypted assertions when the key is RSA.
//
// This package adds:
//
//   - Signed assertions are required. crewjam accepts an unsigned assertion
//     inside a signed Response; here the assertion returned must be one whose
//     own signature was verified (a SignatureVerifier records them), and a
//     plain assertion without a Signature is refused before verification.
//   - Only SP-initiated logins. The Response must answer, by InResponseTo, an
//     AuthnRequest this SP issued within the last 10 minutes and that no
//     accepted response has answered yet. IdP-initiated (unsolicited)
//     responses are refused: they cannot be tied to a browser that asked to
//     sign in, which makes login CSRF and replays from other contexts easy,
//     and the gateway has no use for them.
//   - Replay. The IDs of accepted assertions and responses are kept until the
//     assertion could no longer pass the time checks, and a second post of
//     either is refused, even to a fresh request. Request, assertion and
//     response IDs are consumed together under one lock, so two concurrent
//     posts of one response cannot both succeed. A refused response consumes
//     nothing.
//   - Stricter time: Conditions NotBefore and NotOnOrAfter with 1 minute of
//     skew.
//   - Size: the SAMLResponse form value is at most 256 KiB.
//   - Identity and groups from configured attributes; an assertion without an
//     identity is refused. A transient NameID is never an identity.
//
// # Memory
//
// Everything is held in memory, so the AuthnRequestURL and ParseResponse
// of one login must reach the same SP (one gateway, or sticky routing).
// Pending requests are bounded at 100,000: when full, the oldest is
// forgotten (its login fails). Consumed IDs are bounded at 100,000 entries
// and expire after a few minutes; when full of live entries, logins are
// refused (ErrTooManyLogins) rather than forgetting an ID that could then
// be replayed.
//
// # Errors
//
// A refused response is a *ResponseError whose Reason is one of the Err
// sentinels (ErrUnsignedAssertion, ErrBadSignature, ErrWrongAudience,
// ErrWrongRecipient, ErrExpired, ErrReplayed, ErrUnknownRequest, ...);
// test with errors.Is. Its text is the reason alone, never XML from the
// response or anything secret, so it can be logged and shown.
//
// RelayState is not signed by the IdP: the gateway should treat it as an
// opaque reference it chose (at most 80 bytes), not as a redirect target,
// and should bind the login to the browser that started it (for example a
// cookie set alongside the redirect whose value is carried in RelayState).
package saml
