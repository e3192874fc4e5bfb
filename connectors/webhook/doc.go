// Package webhook is the `webhook` connector kind: each event is POSTed to
// one URL as JSON (the mapped body, or a structured CloudEvent wrapping it)
// and signed per Standard Webhooks 1.0: webhook-id (the event id, the same
// on every attempt), webhook-timestamp (unix seconds at send time) and
// webhook-signature, one `v1,<base64 HMAC-SHA256>` of "id.timestamp.body"
// per configured secret so receivers keep verifying during a key rotation.
//
// Outcomes follow the status table every HTTP-based kind shares
// (connectors.HTTPClass): 2xx delivered; 408, 425, 429 and 5xx transient, honouring Retry-After;
// 409 and 412 conflict; any other status, redirects included, permanent.
// Network errors and timeouts are transient.
package webhook
