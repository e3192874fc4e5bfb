package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Read configures how a record is read back: the URL (a template like
// http.url, filled from the same event fields) and the method.
type Read struct {
	URL string `yaml:"url"`
	// Method is GET (default) or POST; a POST carries the mapped record,
	// for APIs that look a record up by its fields.
	Method string `yaml:"method"`
}

func (r *Read) validate() error {
	if r == nil {
		return nil
	}
	r.Method = strings.ToUpper(r.Method)
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return fmt.Errorf("http.read.method %q: want GET or POST", r.Method)
	}
	if r.URL == "" {
		return errors.New("http.read.url is required in http.read (leave http.read out to read with GET on http.url)")
	}
	_, err := checkURLTemplate("http.read.url", r.URL)
	return err
}

// reader is where and how Fetch reads: http.read, else GET on http.url.
func (c *Connector) reader() (*template, string) {
	if c.read != nil {
		return c.read, c.cfg.Read.Method
	}
	return c.url, http.MethodGet
}
