package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/connstore"
)

// historyShown bounds the revisions listed per connector (the bucket
// keeps ten).
const historyShown = 10

type revisionView struct {
	connstore.Revision
	Doc string
}

type storedConnector struct {
	connstore.Entry
	Doc     string
	History []revisionView
}

// connectors shows each connector's stored definition and its earlier
// revisions (the connector store, as `extsync connectors ls`): ${VAR}
// references are shown as written, never resolved. An admin can edit
// and apply a definition, or apply a new one.
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
		hist, err := st.History(r.Context(), e.Name)
		if err != nil && !errors.Is(err, connstore.ErrUnknown) {
			c.fail(w, r, http.StatusBadGateway, "Connectors", err)
			return
		}
		for _, h := range hist[:min(len(hist), historyShown)] {
			if h.Revision != e.Revision {
				out[i].History = append(out[i].History, revisionView{Revision: h, Doc: string(h.Doc)})
			}
		}
	}
	c.render(w, r, http.StatusOK, "connectors.html", page{Title: "Connectors", Nav: "connectors", Data: out})
}

type appliedView struct {
	Changes []connstore.Change
	Unset   []string
	Err     string
	Doc     string
}

// maxConnectorDoc bounds an applied document, as PUT /api/v1/connectors.
const maxConnectorDoc = 1 << 20

// applyConnector validates a connectors document as serve validates its
// file and stores it (connstore.Prepare and Apply, as `extsync
// connectors apply` and PUT /api/v1/connectors/{name}); every instance
// picks it up. With name set (an edit), the document must hold exactly
// that connector.
func (c *Console) applyConnector(w http.ResponseWriter, r *http.Request) {
	doc := strings.ReplaceAll(r.PostFormValue("doc"), "\r\n", "\n")
	name := r.PostFormValue("name")
	v := appliedView{Doc: doc}
	fail := func(status int, err error) {
		v.Err = err.Error()
		c.render(w, r, status, "connector_applied.html", page{Title: "Apply a connector", Nav: "connectors", Data: v})
	}
	if len(doc) > maxConnectorDoc {
		fail(http.StatusRequestEntityTooLarge, fmt.Errorf("document: over %d bytes", maxConnectorDoc))
		return
	}
	env := &config.LenientEnv{Env: c.o.Env}
	names, docs, err := connstore.Prepare("document", []byte(doc), env.Lookup, c.o.Check)
	if err != nil {
		fail(http.StatusBadRequest, err)
		return
	}
	if name != "" && (len(names) != 1 || names[0] != name) {
		fail(http.StatusBadRequest, fmt.Errorf("document: want a connectors document with one connector, named %q; it names %q", name, names))
		return
	}
	st, err := connstore.Open(r.Context(), c.o.JS, c.o.Replicas)
	if err != nil {
		fail(http.StatusBadGateway, err)
		return
	}
	v.Changes, err = st.Apply(r.Context(), c.o.JS, names, docs, whoOf(r).Actor)
	v.Unset = env.Unset()
	if err != nil {
		fail(http.StatusBadGateway, err)
		return
	}
	c.render(w, r, http.StatusOK, "connector_applied.html", page{Title: "Connector applied", Nav: "connectors", Data: v})
}

type removeView struct {
	Name     string
	Revision uint64
	Updated  time.Time
	Done     bool
	Err      string
}

// removeConnector removes a connector from the connector store, as
// `extsync connectors rm` and DELETE /api/v1/connectors/{name} do
// (connstore.Delete): every instance drains and stops it. The first POST
// shows what happens and asks to confirm; the second, with confirm set,
// removes it.
func (c *Console) removeConnector(w http.ResponseWriter, r *http.Request) {
	name := r.PostFormValue("name")
	v := removeView{Name: name}
	show := func(status int, title string) {
		c.render(w, r, status, "connector_remove.html", page{Title: title, Nav: "connectors", Data: v})
	}
	fail := func(err error) {
		status := http.StatusBadGateway
		if errors.Is(err, connstore.ErrUnknown) {
			status = http.StatusNotFound
		}
		v.Err = err.Error()
		show(status, "Remove a connector")
	}
	if name == "" {
		v.Err = "name: which connector to remove is missing"
		show(http.StatusBadRequest, "Remove a connector")
		return
	}
	st, err := connstore.Open(r.Context(), c.o.JS, c.o.Replicas)
	if err != nil {
		fail(err)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		es, err := st.List(r.Context())
		if err != nil {
			fail(err)
			return
		}
		i := slices.IndexFunc(es, func(e connstore.Entry) bool { return e.Name == name })
		if i < 0 {
			fail(fmt.Errorf("%w %q in the connector store", connstore.ErrUnknown, name))
			return
		}
		v.Revision, v.Updated = es[i].Revision, es[i].Updated
		show(http.StatusOK, "Remove "+name+"?")
		return
	}
	if err := st.Delete(r.Context(), c.o.JS, name, whoOf(r).Actor); err != nil {
		fail(err)
		return
	}
	v.Done = true
	show(http.StatusOK, "Connector removed")
}
