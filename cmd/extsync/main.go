// Command extsync keeps external systems in step with HMS platform events.
// The command line lives in pkg/cli, so custom binaries can run it with
// their own connector kinds.
package main

import (
	"os"

	"github.com/hms/extsync/pkg/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli.Main(cli.WithVersion(version)))
}
