package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/hms/extsync/connectors"
)

// Delete configures how a deletion is sent; default DELETE on http.url.
type Delete struct {
	// URL is a template like http.url; default http.url.
	URL string `yaml:"url"`
	// Method is DELETE (default), POST, PUT or PATCH; any but DELETE
	// carries the deletion event's mapped record, for APIs that cancel
	// or archive rather than delete.
	Method string `yaml:"method"`
}

func (d *Delete) validate() error {
	if d == nil {
		return nil
	}
	d.Method = strings.ToUpper(d.Method)
	if d.Method == "" {
		d.Method = http.MethodDelete
	}
	switch d.Method {
	case http.MethodDelete, http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return fmt.Errorf("http.delete.method %q: want DELETE, POST, PUT or PATCH", d.Method)
	}
	if d.URL == "" {
		return nil
	}
	_, err := checkURLTemplate("http.delete.url", d.URL)
	return err
}

// deleter is where and how a deletion goes: http.delete, else DELETE on
// http.url.
func (c *Connector) deleter() (*template, string) {
	tmpl, method := c.url, http.MethodDelete
	if d := c.cfg.Delete; d != nil {
		method = d.Method
		if c.del != nil {
			tmpl = c.del
		}
	}
	return tmpl, method
}

// Delete implements connectors.Deleter: the request a deletion makes,
// with the headers, auth, Idempotency-Key and trace context of any
// other. A system that answers 404 or 410 no longer holds the record,
// which is what a deletion asks: delivered. No If-Match is sent: the
// entity is gone whatever the system's record became since.
func (c *Connector) Delete(ctx context.Context, d *connectors.Delivery) error {
	tmpl, method := c.deleter()
	var body []byte
	if method != http.MethodDelete {
		var err error
		if body, err = c.body(d); err != nil {
			return err
		}
	}
	err := c.send(ctx, d, method, tmpl, body, "")
	if d.Status == http.StatusNotFound || d.Status == http.StatusGone {
		return nil
	}
	return err
}
