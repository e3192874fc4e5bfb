package admin

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/connstore"
)

// StoreOps is what PUT and DELETE /api/v1/connectors/{name} act on:
// the connector store, as `extsync connectors apply|rm` do.
type StoreOps struct {
	JS       jetstream.JetStream
	Replicas int
	// Check validates a connector's kind block with the kinds this
	// instance knows (catalog.Default()), as serve does.
	Check config.Checker
	// Env resolves ${VAR} for validation; nil is this process's
	// environment. Unset variables are reported, not refused: each
	// instance reads them from its own environment.
	Env config.LookupEnv
}

// maxConnectorDoc bounds a PUT body; a connector document is a few KiB.
const maxConnectorDoc = 1 << 20

// MountConnectorStore adds PUT and DELETE /api/v1/connectors/{name}.
func (s *Server) MountConnectorStore(o StoreOps) {
	s.Mount("PUT /api/v1/connectors/{name}", http.HandlerFunc(o.put))
	s.Mount("DELETE /api/v1/connectors/{name}", http.HandlerFunc(o.remove))
}

// applied is the answer to a PUT.
type applied struct {
	connstore.Change
	// Unset lists the ${VAR}s this instance could not check.
	Unset []string `json:"unset_variables,omitempty"`
}

// put stores the connector in the body, a connectors document (YAML or
// JSON) holding exactly that one connector, validated as serve validates
// its file; errors name "request body", line and field.
func (o StoreOps) put(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConnectorDoc))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body: over %d bytes", tooBig.Limit))
		return
	case err != nil:
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("request body: %v", err))
		return
	}
	env := &config.LenientEnv{Env: o.Env}
	names, docs, err := connstore.Prepare("request body", body, env.Lookup, o.Check)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(names) != 1 || names[0] != name {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf(
			"request body: want a connectors document with one connector, named %q; it names %q", name, names))
		return
	}
	reg, err := connstore.Open(r.Context(), o.JS, o.Replicas)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	changes, err := reg.Apply(r.Context(), o.JS, names, docs, Caller(r))
	if err != nil && len(changes) == 0 {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	if err != nil { // stored, but its audit record is not
		WriteJSON(w, http.StatusBadGateway, map[string]any{"name": name, "applied": true, "error": err.Error()})
		return
	}
	WriteJSON(w, http.StatusOK, applied{Change: changes[0], Unset: env.Unset()})
}

func (o StoreOps) remove(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	reg, err := connstore.Open(r.Context(), o.JS, o.Replicas)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	switch err := reg.Delete(r.Context(), o.JS, name, Caller(r)); {
	case errors.Is(err, connstore.ErrUnknown):
		WriteError(w, http.StatusNotFound, err.Error())
	case err != nil:
		WriteError(w, http.StatusBadGateway, err.Error())
	default:
		WriteJSON(w, http.StatusOK, map[string]string{"removed": name})
	}
}
