package sftp_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/connectortest"
	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
)

func TestSuite(t *testing.T) {
	s := newServer(t)
	connectortest.Run(t, connectortest.Harness{
		New: func(t *testing.T) connectors.Connector {
			return mustBuild(t, s, "filename: '{connector}-{id}.jsonl'")
		},
		NewUnreachable: func(t *testing.T) connectors.Connector {
			c, err := build(t, strings.Replace(passwordBlock(t, s, ""), s.addr, closedAddr(t), 1),
				map[string]string{"PW": s.password})
			require.NoError(t, err)
			return c
		},
		Rejecting: func(t *testing.T) connectors.Connector {
			denied := error(sftp.ErrSSHFxPermissionDenied)
			s.failWrite.Store(&denied)
			t.Cleanup(func() { s.failWrite.Store(nil) })
			return mustBuild(t, s, "")
		},
		Received: func(t *testing.T) []string {
			var keys []string
			for _, content := range s.files(t, "/incoming") {
				var body map[string]any
				require.NoError(t, json.Unmarshal([]byte(content), &body))
				keys = append(keys, body["id"].(string))
			}
			return keys
		},
	})
}
