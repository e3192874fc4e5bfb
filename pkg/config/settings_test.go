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
