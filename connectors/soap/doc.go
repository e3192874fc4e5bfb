// Package soap is the `soap` connector kind: each event becomes one SOAP
// 1.1 or 1.2 request, POSTed to the service endpoint, whose Body is a
// text/template rendered over the mapped event with every printed value
// XML-escaped (template.go), optionally with a WS-Security UsernameToken
// in the Header (envelope.go).
//
// A SOAP fault in the response decides the outcome by its code, whatever
// the HTTP status (fault.go): Server (1.1) and Receiver (1.2) faults are
// transient, every other code permanent; the fault string goes into the
// error, which becomes the sync log's and the dead letter's reason.
// Without a fault the status table every HTTP-based kind shares applies
// (connectors.HTTPClass): 2xx delivered; 408, 425, 429 and 5xx transient, honouring Retry-After; 409
// and 412 conflict; any other status permanent. Network errors and
// timeouts are transient.
//
// With a soap.read block New returns a *Reader, which also reads an
// entity's record back (connectors.Remote, read.go): the read request is
// rendered like a delivery's, and the answer's record element becomes a
// map of its child elements by local name (record.go).
package soap
