//go:build !linux

package bench

import "syscall"

// childAttr is empty where there is no parent-death signal: the
// benchmark's own cleanup stops the server.
func childAttr() *syscall.SysProcAttr { return nil }
