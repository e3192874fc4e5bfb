package pipeline

import "testing"

// The sync log falls back to the producer's traceparent for a record's
// trace id; anything but its four dash-separated parts gives none.
func TestTraceIDReadsTheSecondPartOfATraceparent(t *testing.T) {
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for in, want := range map[string]string{
		"00-" + id + "-00f067aa0ba902b7-01":      id,
		"ff-" + id + "-00f067aa0ba902b7-00":      id,
		"":                                       "",
		"00-" + id:                               "",
		"00-" + id + "-00f067aa0ba902b7":         "",
		"00-" + id + "-00f067aa0ba902b7-01-x":    "",
		"00-" + id[:31] + "-00f067aa0ba902b7-01": "",
	} {
		if got := traceID(in); got != want {
			t.Errorf("traceID(%q) = %q, want %q", in, got, want)
		}
	}
}
