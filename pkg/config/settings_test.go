package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
)

func TestQueueBytesSetting(t *testing.T) {
	s, err := config.LoadSettings()
	require.NoError(t, err)
	require.EqualValues(t, 32<<20, s.QueueBytes, "the default")

	t.Setenv("EXTSYNC_QUEUE_BYTES", "8MiB")
	s, err = config.LoadSettings()
	require.NoError(t, err)
	require.EqualValues(t, 8<<20, s.QueueBytes)

	for value, want := range map[string]string{
		"lots": `EXTSYNC_QUEUE_BYTES`,
		"1KiB": "EXTSYNC_QUEUE_BYTES=1024: want 64KiB or more",
	} {
		t.Setenv("EXTSYNC_QUEUE_BYTES", value)
		_, err = config.LoadSettings()
		require.ErrorIs(t, err, config.ErrInvalid, value)
		require.ErrorContains(t, err, want)
	}
}

func TestConsoleSettings(t *testing.T) {
	t.Setenv("EXTSYNC_VIEWER_TOKEN", "v-secret")
	t.Setenv("EXTSYNC_TRACE_URL", "http://jaeger:16686/trace/{trace_id}")
	s, err := config.LoadSettings()
	require.NoError(t, err)
	require.Equal(t, "v-secret", s.ViewerToken.Reveal())
	require.Equal(t, "[redacted]", s.ViewerToken.String())
	require.Equal(t, "http://jaeger:16686/trace/{trace_id}", s.TraceURL)

	t.Setenv("EXTSYNC_TRACE_URL", "http://jaeger:16686/trace/")
	_, err = config.LoadSettings()
	require.ErrorIs(t, err, config.ErrInvalid)
	require.ErrorContains(t, err, "{trace_id}")
	require.Contains(t, config.Usage(), "EXTSYNC_VIEWER_TOKEN")
	require.Contains(t, config.Usage(), "EXTSYNC_TRACE_URL")
}
