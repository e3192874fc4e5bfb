package main

import (
	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/config"
)

// checkWith validates a connector's kind block by building the connector,
// which does no I/O, and closing it again.
func checkWith(reg *connectors.Registry) config.Checker {
	return func(c *config.Connector) error {
		conn, err := reg.New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
