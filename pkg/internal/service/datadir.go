package service

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockFileName is the file in EXTSYNC_DATA_DIR that the serve running the
// embedded server holds locked, with its PID inside.
const lockFileName = "extsync.lock"

// lockDataDir takes an exclusive lock on dir for this process, so two
// embedded servers never share one JetStream store. The lock goes with
// the process (flock), so a killed serve leaves nothing to clean up.
func lockDataDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("EXTSYNC_DATA_DIR %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the operator's data dir
	if err != nil {
		return nil, fmt.Errorf("EXTSYNC_DATA_DIR %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil { // #nosec G115 -- a file descriptor fits an int
		holder := "another process"
		if data, rerr := os.ReadFile(path); rerr == nil { // #nosec G304 -- as above
			if pid, perr := strconv.Atoi(string(bytes.TrimSpace(data))); perr == nil {
				holder = fmt.Sprintf("another extsync serve (pid %d)", pid)
			}
		}
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("EXTSYNC_DATA_DIR %s is in use by %s: stop it, or give this one its own EXTSYNC_DATA_DIR (or EXTSYNC_NATS_URL to share that server)", dir, holder)
		}
		return nil, fmt.Errorf("EXTSYNC_DATA_DIR %s: lock %s: %w", dir, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// unlockDataDir releases the lock taken by lockDataDir.
func unlockDataDir(f *os.File) {
	if f == nil {
		return
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) // #nosec G115 -- a file descriptor fits an int
	_ = f.Close()
}
