package cli

import (
	"fmt"
	"os"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/internal/coherence"
	"github.com/hms/extsync/pkg/internal/connstore"
)

// checkWith validates a connector's kind block by building the connector,
// which does no I/O, and closing it again.
func checkWith(reg *connectors.Kinds) config.Checker {
	return func(c *config.Connector) error {
		conn, err := reg.New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency,
			Batch: c.Mode == config.ModeBatch, Decode: c.Decode})
		if err == nil && c.Mode == config.ModeBatch {
			if _, ok := conn.(connectors.BatchConnector); !ok {
				_ = conn.Close()
				return fmt.Errorf("kind %q cannot send batches; mode batch needs http (with bulk), sftp or sql", c.Kind)
			}
		}
		if err != nil {
			return err
		}
		if _, ok := conn.(connectors.Deleter); !ok && c.DeleteWhen != nil {
			_ = conn.Close()
			return &config.FieldError{Field: "delete_when", Err: fmt.Errorf(
				"kind %q cannot delete a record (http, webhook and sql can); leave delete_when out, and narrow subjects to keep deletions away", c.Kind)}
		}
		if _, ok := conn.(connectors.Remote); !ok && c.Verify != nil {
			_ = conn.Close()
			return &config.FieldError{Field: "verify", Err: &coherence.CannotReadBackError{Connector: c.Name, Kind: c.Kind}}
		}
		return conn.Close()
	}
}

// loadSources validates a connectors file and cuts it into the
// single-connector documents the connector store stores.
func loadSources(path string, env config.LookupEnv, check config.Checker) (*config.File, map[string][]byte, error) {
	file, err := config.LoadFile(path, env, check)
	if err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(path) // #nosec G304 -- the operator names the connectors file
	if err != nil {
		return nil, nil, err
	}
	_, docs, err := connstore.Split(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return file, docs, nil
}
