// Package httpapi is the `http` connector kind: each event becomes one
// request (PUT {endpoint}/workflows/{id} by default) whose JSON body is the
// mapped event, sent through one keep-alive client per connector.
//
// Outcomes follow a status table (status.go): 2xx delivered; 408, 425, 429
// and 5xx transient, honouring Retry-After; 409 and 412 conflict; any other
// status permanent. Network errors and timeouts are transient.
package httpapi
