package api

import (
	"fmt"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// Connection is a connection the caller may reach, in GET
// /api/v1/connections.
type Connection struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Database string            `json:"database,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	// Access is "allow", or "review" when sessions need an approved
	// access request first.
	Access string `json:"access"`
}

// Listeners says where clients reach the gateway's protocol listeners.
type Listeners struct {
	// Postgres is the PostgreSQL listener's address as configured; a
	// wildcard host means the host of the API's URL.
	Postgres string `json:"postgres,omitempty"`
	// CA is the PEM certificate of the authority that signed the
	// listeners' certificate when gatehouse generated it; empty when
	// gateway.tls names one, which the system's roots verify.
	CA string `json:"ca,omitempty"`
}

// ConnectionList is the body of GET /api/v1/connections: only the
// connections the caller's policies let them reach, so that names do not
// leak.
type ConnectionList struct {
	Listeners   Listeners    `json:"listeners"`
	Connections []Connection `json:"connections"`
}

func (s *Server) listConnections(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	if s.Connections == nil {
		return errNotImplemented
	}
	list, err := s.Connections(r.Context(), p)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	if list.Connections == nil {
		list.Connections = []Connection{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}
