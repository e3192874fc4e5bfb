package catalog

import (
	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/httpapi"
	"github.com/hms/extsync/connectors/sftp"
	"github.com/hms/extsync/connectors/soap"
	"github.com/hms/extsync/connectors/sqldb"
	"github.com/hms/extsync/connectors/webhook"
)

// RegisterDefaults adds every built-in kind to reg.
func RegisterDefaults(reg *connectors.Kinds) {
	reg.Register(httpapi.Factory{})
	reg.Register(webhook.Factory{})
	reg.Register(sqldb.Factory{})
	reg.Register(soap.Factory{})
	reg.Register(sftp.Factory{})
}

// Default returns the set holding the built-in kinds.
func Default() *connectors.Kinds {
	reg := connectors.NewKinds()
	RegisterDefaults(reg)
	return reg
}
