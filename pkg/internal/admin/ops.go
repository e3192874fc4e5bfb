package admin

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"
)

// Ops is what the /api/v1 endpoints read and act on.
type Ops struct {
	JS jetstream.JetStream
	// Connectors reports this instance's connectors (a slice of
	// pipeline.ConnectorStatus, say); each must have a Name.
	Connectors func(ctx context.Context) []ConnectorView
}

// ConnectorView is one connector's status with its name, for lookups.
type ConnectorView struct {
	Name   string
	Status any
}

// MountOps adds the connectors, dead-letter and log endpoints.
func (s *Server) MountOps(o Ops) {
	s.Mount("GET /api/v1/connectors", http.HandlerFunc(o.listConnectors))
	s.Mount("GET /api/v1/connectors/{name}", http.HandlerFunc(o.getConnector))
	s.Mount("GET /api/v1/dlq", http.HandlerFunc(o.listDLQ))
	s.Mount("POST /api/v1/dlq/replay", http.HandlerFunc(o.replayDLQ))
	s.Mount("POST /api/v1/dlq/purge", http.HandlerFunc(o.purgeDLQ))
	s.Mount("GET /api/v1/log", http.HandlerFunc(o.listLog))
}

func (o Ops) listConnectors(w http.ResponseWriter, r *http.Request) {
	views := o.Connectors(r.Context())
	out := make([]any, len(views))
	for i, v := range views {
		out[i] = v.Status
	}
	WriteJSON(w, http.StatusOK, out)
}

func (o Ops) getConnector(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	for _, v := range o.Connectors(r.Context()) {
		if v.Name == name {
			WriteJSON(w, http.StatusOK, v.Status)
			return
		}
	}
	WriteError(w, http.StatusNotFound, fmt.Sprintf("no connector %q runs on this instance", name))
}
