package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	tmpl, err := parseTemplate(r.URL)
	if err != nil {
		return fmt.Errorf("http.read.url: %w", err)
	}
	u, err := url.Parse(tmpl.render(func(int) string { return "x" }))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return errors.New("http.read.url must be an absolute http:// or https:// URL")
	}
	if err := tmpl.checkParts(); err != nil {
		return fmt.Errorf("http.read.url: %w", err)
	}
	if u.RawPath != "" && u.EscapedPath() != u.RawPath {
		return errors.New("http.read.url: the path has characters that must be percent-encoded (a space is %20, é is %C3%A9)")
	}
	return nil
}

// reader is where and how Fetch reads: http.read, else GET on http.url.
func (c *Connector) reader() (*template, string) {
	if c.read != nil {
		return c.read, c.cfg.Read.Method
	}
	return c.url, http.MethodGet
}
