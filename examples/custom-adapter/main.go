// Command custom-adapter is extsync with one more connector kind, ledger,
// which appends every delivered event to a JSON-lines file. It runs the
// very same command line as extsync (serve, publish, connectors, dlq, ...);
// connectors of kind ledger take a `ledger: {path: ...}` block.
//
//	go build -o extsync-ledger ./examples/custom-adapter
//	EXTSYNC_CONNECTORS=examples/custom-adapter/connectors.yaml ./extsync-ledger serve
package main

import (
	"os"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/cli"
)

func main() {
	kinds := catalog.Default() // http, webhook, soap, sftp, sql
	kinds.Register(LedgerFactory{})
	os.Exit(cli.Main(cli.WithKinds(kinds)))
}
