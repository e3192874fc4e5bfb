package synclog

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends r as one line of JSON, byte for byte what
// encoding/json's Encoder writes for it (FuzzEncodeMatchesEncodingJSON
// holds the two together). Every delivery writes a record, so it is
// written field by field, without encoding/json's reflection, into a
// buffer Encode sizes once for the whole group.
func appendRecord(b []byte, r *Record) ([]byte, error) {
	if y := r.Time.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("sync log record: time %v: year outside [0,9999]", r.Time)
	}
	if math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) {
		return b, fmt.Errorf("sync log record: duration %v is not a number JSON can hold", r.DurationMS)
	}
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","connector":`...)
	b = appendString(b, r.Connector)
	b = append(b, `,"event_id":`...)
	b = appendString(b, r.EventID)
	b = append(b, `,"subject":`...)
	b = appendString(b, r.Subject)
	b = append(b, `,"stream_seq":`...)
	b = strconv.AppendUint(b, r.StreamSeq, 10)
	b = optString(b, `,"entity":`, r.Entity)
	b = optString(b, `,"version":`, r.Version)
	b = optString(b, `,"operation":`, r.Operation)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(r.Attempt), 10)
	b = append(b, `,"outcome":`...)
	b = appendString(b, r.Outcome)
	b = optInt(b, `,"status":`, int64(r.Status))
	b = optString(b, `,"error":`, r.Error)
	b = append(b, `,"duration_ms":`...)
	b = appendFloat(b, r.DurationMS)
	b = optInt(b, `,"retry_in_ms":`, r.RetryInMS)
	b = optString(b, `,"trace_id":`, r.TraceID)
	b = optString(b, `,"mapping_version":`, r.MappingVersion)
	if r.ReplayOf != 0 {
		b = append(b, `,"replay_of":`...)
		b = strconv.AppendUint(b, r.ReplayOf, 10)
	}
	b = optString(b, `,"actor":`, r.Actor)
	b = optString(b, `,"action":`, r.Action)
	b = optInt(b, `,"count":`, int64(r.Count))
	return append(b, "}\n"...), nil
}

// optString and optInt write an omitempty field.
func optString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, key...), s)
}

func optInt(b []byte, key string, n int64) []byte {
	if n == 0 {
		return b
	}
	return strconv.AppendInt(append(b, key...), n, 10)
}

// appendFloat formats as encoding/json does: plain notation, exponent
// only for very small or large magnitudes, "e-7" rather than "e-07".
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does with HTML escaping on (its
// Encoder's default): <, > and & as \u escapes, so do U+2028 and U+2029,
// and invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(b, '\\', c)
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}
