package saml

import (
	"errors"
	"strings"

	crewjam "github.com/crewjam/saml"
)

// Reasons a response is refused. ParseResponse returns them inside a
// *ResponseError; test them with errors.Is.
var (
	ErrMalformed         = errors.New("malformed response")
	ErrUnsignedAssertion = errors.New("unsigned assertion")
	ErrBadSignature      = errors.New("bad signature")
	ErrWrongIssuer       = errors.New("wrong issuer")
	ErrWrongAudience     = errors.New("wrong audience")
	ErrWrongRecipient    = errors.New("wrong recipient")
	ErrExpired           = errors.New("expired")
	ErrNotYetValid       = errors.New("not yet valid")
	ErrReplayed          = errors.New("replayed")
	ErrUnknownRequest    = errors.New("unknown request")
	ErrIdPStatus         = errors.New("identity provider refused the login")
	ErrNoIdentity        = errors.New("no identity in assertion")
	ErrTooManyLogins     = errors.New("too many logins in flight")
)

// ResponseError is the error ParseResponse returns for a response it refuses.
// Its text is the reason only: it never contains the response, its XML or
// any value taken from it. The cause, when there is one, is the verifier's
// own error and is reachable with errors.Unwrap for debug logging; it holds
// no secrets either, but may quote identifiers from the response.
type ResponseError struct {
	// Reason is one of the Err sentinels of this package.
	Reason error
	cause  error
}

func (e *ResponseError) Error() string { return "saml: " + e.Reason.Error() }

// Unwrap returns the reason and, if there is one, the cause.
func (e *ResponseError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.cause}
}

func refuse(reason, cause error) *ResponseError {
	return &ResponseError{Reason: reason, cause: cause}
}

// classify turns an error from crewjam/saml into a ResponseError. crewjam
// wraps its cause in an *InvalidResponseError that also holds the raw
// response; only the inner cause is kept, so the XML cannot leak through
// this error's chain.
func classify(err error) *ResponseError {
	var ire *crewjam.InvalidResponseError
	if errors.As(err, &ire) {
		err = ire.PrivateErr
	}
	var status crewjam.ErrBadStatus
	switch {
	case err == nil:
		return refuse(ErrMalformed, nil)
	case isSignatureMissing(err):
		return refuse(ErrUnsignedAssertion, err)
	case errors.Is(err, crewjam.ErrInvalidSignature):
		return refuse(ErrBadSignature, err)
	case errors.Is(err, crewjam.ErrIssuerMismatch):
		return refuse(ErrWrongIssuer, err)
	case errors.Is(err, crewjam.ErrAudienceMismatch):
		return refuse(ErrWrongAudience, err)
	case errors.Is(err, crewjam.ErrDestinationMismatch):
		return refuse(ErrWrongRecipient, err)
	case errors.Is(err, crewjam.ErrExpired):
		return refuse(ErrExpired, err)
	case errors.Is(err, crewjam.ErrNotYetValid):
		return refuse(ErrNotYetValid, err)
	case errors.Is(err, crewjam.ErrRequestIDMismatch):
		return refuse(ErrUnknownRequest, err)
	case errors.Is(err, crewjam.ErrAssertionReplayed):
		return refuse(ErrReplayed, err)
	case errors.As(err, &status):
		return refuse(ErrIdPStatus, err)
	default:
		return refuse(ErrMalformed, err)
	}
}

// isSignatureMissing reports whether crewjam refused an element because it
// carries no signature where one is required. crewjam returns an unexported,
// unclassified error for that ("signature element not present"), so it is
// recognised by its text at the end of the chain.
func isSignatureMissing(err error) bool {
	for err != nil {
		if err.Error() == "signature element not present" {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if isSignatureMissing(e) {
					return true
				}
			}
			return false
		default:
			return strings.HasSuffix(err.Error(), ": signature element not present")
		}
	}
	return false
}
