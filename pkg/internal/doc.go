// Package internal holds extsync's engine: the pipeline and what it is
// built from (policy, mapping, entity state, throttle, batch), the
// connector store, the service that assembles them, the admin server and
// console, bench and demo. Only pkg/ may import it; the public surface is
// pkg/cli, pkg/publish, pkg/event, pkg/config and connectors/.
package internal
