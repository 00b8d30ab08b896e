package saml

import "time"

// ExpectRequestForTest makes sp accept responses to the AuthnRequest id, as
// if sp had issued it: for tests that post one SP's response to another.
func (sp *SP) ExpectRequestForTest(id string) {
	now := sp.now()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.requests.add(id, now.Add(requestTTL), now)
}

// VerifyForTest runs the checks after precheck on a decoded response, so
// that tests reach the verifier's own decision on unsigned assertions.
func (sp *SP) VerifyForTest(raw []byte, requestID, responseID string) (*Assertion, error) {
	return sp.verify(raw, requestID, responseID, sp.now())
}

// SeenLenForTest is the number of IDs held against replay.
func (sp *SP) SeenLenForTest() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.seen.h)
}

var RequestTTLForTest time.Duration = requestTTL
