package sftp

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hms/extsync/connectors"
)

// classify turns an SSH or SFTP failure into a delivery error:
//
//	host key unknown or changed        permanent (a person must check it)
//	authentication refused             permanent (credentials must change)
//	no such file/dir, permission, op   permanent
//	network, timeout, connection lost  transient
//	SSH_FX_FAILURE (disk full, ...)    transient
//
// authStage says the server's host key was accepted before err, so a
// handshake error that is not a network error was the authentication.
func classify(err error, authStage bool) error {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	var status *sftp.StatusError
	switch {
	case errors.As(err, &keyErr), errors.As(err, &revoked):
		return connectors.PermanentError(0, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), brokenConn(err):
		return connectors.TransientError(0, err)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		// pkg/sftp turns SSH_FX_NO_SUCH_FILE and _PERMISSION_DENIED into these.
		return connectors.PermanentError(0, err)
	case errors.As(err, &status):
		switch status.FxCode() {
		case sftp.ErrSSHFxNoSuchFile, sftp.ErrSSHFxPermissionDenied, sftp.ErrSSHFxOpUnsupported, sftp.ErrSSHFxBadMessage:
			return connectors.PermanentError(0, err)
		}
		return connectors.TransientError(0, err)
	case authStage:
		return connectors.PermanentError(0, err)
	}
	return connectors.TransientError(0, err)
}

// brokenConn says err ended the connection, so its session is dropped.
func brokenConn(err error) bool {
	var ne net.Error
	var status *sftp.StatusError
	if errors.As(err, &status) {
		code := status.FxCode()
		return code == sftp.ErrSSHFxConnectionLost || code == sftp.ErrSSHFxNoConnection
	}
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, sftp.ErrSSHFxConnectionLost)
}
