package bench

import "syscall"

// childAttr makes the kernel kill the nats-server child when this process
// dies, so not even a SIGKILL of the benchmark leaves a server behind.
// Pdeathsig fires when the forking thread exits; the Go runtime does not
// end its threads while the process runs (nothing here locks one and
// exits), so in practice that is the process's death.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
