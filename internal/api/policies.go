package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// PolicyDigest answers a policy apply.
type PolicyDigest struct {
	Digest string `json:"digest"`
}

// BadRequest is an error whose message the client sees with status 400.
func BadRequest(msg string) error { return badRequest("%s", msg) }

func (s *Server) applyPolicies(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.ApplyPolicies == nil {
		return errNotImplemented
	}
	doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return badRequest("policy document too large or unreadable")
	}
	d, err := s.ApplyPolicies(r.Context(), doc)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			return he
		}
		return err
	}
	writeJSON(w, http.StatusOK, PolicyDigest{Digest: d})
	return nil
}
