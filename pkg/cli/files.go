package cli

import (
	"github.com/hms/extsync/pkg/config"
)

// useFiles confines the files connectors documents read in this process
// (PEM files, templates, ${file:} secrets) to EXTSYNC_CONFIG_DIR (default:
// the directory of connectorsFile) and EXTSYNC_SECRETS_DIR. The returned
// func releases them.
func useFiles(s config.Settings, connectorsFile string) (func(), error) {
	s.Connectors = connectorsFile
	files, err := s.Files()
	if err != nil {
		return nil, err
	}
	config.SetFiles(files)
	return func() {
		config.SetFiles(nil)
		_ = files.Close()
	}, nil
}
