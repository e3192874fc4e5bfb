// Package cli is the extsync command line as a library: serve, demo,
// publish, connectors, dlq, log, bench and the rest, exactly as the
// extsync binary runs them. It is the public entry point for custom
// binaries: a team that writes its own connector kind registers it in a
// connectors.Kinds and runs the whole command line with it,
//
//	kinds := catalog.Default()
//	kinds.Register(ledger.Factory{})
//	os.Exit(cli.Main(cli.WithKinds(kinds)))
//
// and every command that reads a connectors file (serve, connectors
// apply) accepts connectors of that kind and their `ledger:` blocks.
package cli
