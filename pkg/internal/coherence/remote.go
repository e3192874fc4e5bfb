package coherence

import (
	"fmt"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
)

// CannotReadBackError says a connector cannot read records back
// (webhook, sftp, soap without soap.read): there is nothing to compare
// with.
type CannotReadBackError struct {
	Connector, Kind string
}

func (e *CannotReadBackError) Error() string {
	why := ""
	switch e.Kind {
	case "webhook":
		why = ": a webhook receiver has no read API"
	case "sftp":
		why = ": files are written, never read back"
	case "soap":
		return fmt.Sprintf("connector %q is of kind soap and has no soap.read block, so it cannot read records back; "+
			"set soap.read (the service's read operation: action, template, record) to verify it", e.Connector)
	}
	return fmt.Sprintf("connector %q is of kind %q, which cannot read records back%s; verify works with kinds http, sql and soap (with soap.read)",
		e.Connector, e.Kind, why)
}

// Open builds c's connector from kinds for reading records back; the
// caller closes it. A kind that cannot read back is a
// *CannotReadBackError.
func Open(kinds *connectors.Kinds, c *config.Connector) (connectors.Connector, connectors.Remote, error) {
	conn, err := kinds.New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency,
		Batch: c.Mode == config.ModeBatch, Decode: c.Decode})
	if err != nil {
		return nil, nil, err
	}
	r, ok := conn.(connectors.Remote)
	if !ok {
		_ = conn.Close()
		return nil, nil, &CannotReadBackError{Connector: c.Name, Kind: c.Kind}
	}
	return conn, r, nil
}
