package console

import (
	"net/http"

	"github.com/hms/extsync/pkg/connstore"
)

type storedConnector struct {
	connstore.Entry
	Doc string
}

// connectors shows each connector's stored definition (the connector
// store, as `extsync connectors ls`): ${VAR} references are shown as
// written, never resolved.
func (c *Console) connectors(w http.ResponseWriter, r *http.Request) {
	st, err := connstore.Open(r.Context(), c.o.JS, c.o.Replicas)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Connectors", err)
		return
	}
	es, err := st.List(r.Context())
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Connectors", err)
		return
	}
	out := make([]storedConnector, len(es))
	for i, e := range es {
		out[i] = storedConnector{Entry: e, Doc: string(e.Doc)}
	}
	c.render(w, r, http.StatusOK, "connectors.html", page{Title: "Connectors", Nav: "connectors", Data: out})
}
