// Package httpapi is the `http` connector kind: each event becomes one
// request (PUT {endpoint}/workflows/{id} by default) whose JSON body is the
// mapped event, sent through one keep-alive client per connector.
//
// Outcomes follow the status table every HTTP-based kind shares
// (connectors.HTTPClass): 2xx delivered; 408, 425, 429 and 5xx transient,
// honouring Retry-After; 409 and 412 conflict, as is any refusal whose body
// matches conflict_match; any other status permanent. Network errors and
// timeouts are transient.
//
// The files: httpapi.go builds the connector and sends one event;
// config.go is the `http:` block and its validation; template.go fills the
// URL's {dotted.path} placeholders, escaped for the part of the URL they
// are in; match.go is the conflict_match expression; bulk.go sends a batch
// (mode: batch) as one request; remote.go reads the external record for
// the overwrite and merge conflict rules.
package httpapi
