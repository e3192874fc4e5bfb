// Package pgtest runs a throwaway PostgreSQL server from the binaries
// installed on the machine (Debian's postgresql package), for tests that
// need a real database. One server per test binary is the intended use:
// start it from TestMain, give each test its own table. The server code
// builds on Unix only (pgtest.go): running as root, it starts the server as
// the postgres OS user through syscall.Credential.
package pgtest
