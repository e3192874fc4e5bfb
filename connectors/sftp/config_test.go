package sftp_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfigErrorsNameTheProblem(t *testing.T) {
	s := newServer(t)
	env := map[string]string{"PW": s.password}
	for _, tc := range []struct{ extra, want string }{
		{"filename: ../{seq}.jsonl", "a file name, not a path"},
		{"filename: sub/{seq}.jsonl", "a file name, not a path"},
		{"filename: .{seq}.jsonl", "must not start with a dot"},
		{"filename: '{date}.jsonl'", "unknown placeholder {date}"},
		{"format: xml", `sftp.format "xml"`},
		{"format: csv", "sftp.columns is required with format csv"},
		{"retries: 3", "unknown field"},
	} {
		_, err := build(t, passwordBlock(t, s, tc.extra), env)
		require.ErrorContains(t, err, tc.want, tc.extra)
	}
	_, err := build(t, "addr: "+s.addr+"\nuser: clerk\npassword: ${PW}\ndir: /incoming", env)
	require.ErrorContains(t, err, "sftp.known_hosts is required")
	_, err = build(t, "addr: "+s.addr+"\nuser: clerk\nknown_hosts: /nonexistent\ndir: /incoming", env)
	require.ErrorContains(t, err, "set password or private_key")
}
