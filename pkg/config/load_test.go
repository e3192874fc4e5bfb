package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/config"
)

// envOf is a LookupEnv over a fixed map.
func envOf(m map[string]string) config.LookupEnv {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// httpBlock is what a test Checker decodes the `http:` block into.
type httpBlock struct {
	URL     string            `yaml:"url"`
	Method  string            `yaml:"method"`
	Timeout config.Duration   `yaml:"timeout"`
	Headers map[string]string `yaml:"headers"`
}

// decodeCheck is a Checker that decodes the kind block the way a factory
// does, so that kind-block errors come back from Parse.
func decodeCheck(got *[]httpBlock) config.Checker {
	return func(c *config.Connector) error {
		var b httpBlock
		if err := c.Decode(&b); err != nil {
			return err
		}
		if got != nil {
			*got = append(*got, b)
		}
		return nil
	}
}

func TestParseValidFileAppliesDefaults(t *testing.T) {
	doc := `connectors:
  - name: court-schedule
    kind: http
    subjects: [hms.workflow.updated]
    mapping:
      hearingId: case_reference
    http:
      method: PUT
      url: https://courtsched.example.gov/api/v1/workflows/{id}
      timeout: 3s
`
	var blocks []httpBlock
	f, err := config.Parse("connectors.yaml", []byte(doc), envOf(nil), decodeCheck(&blocks))
	require.NoError(t, err)
	require.Len(t, f.Connectors, 1)

	c := f.Connectors[0]
	require.Equal(t, "court-schedule", c.Name)
	require.Equal(t, "http", c.Kind)
	require.Equal(t, []string{"hms.workflow.updated"}, c.Subjects)
	require.Equal(t, config.ModeRealtime, c.Mode)
	require.Equal(t, 16, c.Concurrency)
	require.Equal(t, config.OrderingEntity, c.Ordering)
	require.Equal(t, "id", c.Key)
	require.Equal(t, "", c.Version)
	require.Equal(t, 1<<20, c.MaxEventBytes)
	require.Equal(t, config.Retry{
		MaxAttempts: 10,
		Initial:     config.Duration(time.Second),
		Max:         config.Duration(10 * time.Minute),
		Multiplier:  2,
		Jitter:      0.2,
	}, c.Retry)
	require.Equal(t, config.ConflictRetry, c.Conflict.Strategy)
	require.True(t, c.RateLimit.IsZero())
	require.Nil(t, c.CircuitBreaker)
	require.Equal(t, map[string]string{"hearingId": "case_reference"}, c.Mapping)
	require.Equal(t, "extsync-court-schedule", c.Durable())
	require.True(t, c.Block().IsSet())

	require.Equal(t, []httpBlock{{
		URL:     "https://courtsched.example.gov/api/v1/workflows/{id}",
		Method:  "PUT",
		Timeout: config.Duration(3 * time.Second),
	}}, blocks)
}

func TestParseKeepsExplicitValues(t *testing.T) {
	doc := `connectors:
  - name: c1
    kind: http
    subjects: [hms.a, "hms.b.>"]
    concurrency: 4
    ordering: none
    key: workflow.id
    version: meta.rev
    max_event_bytes: 2048
    retry: {max_attempts: 3, initial: 250ms, max: 5s, multiplier: 1.5, jitter: 0.1}
    conflict: {strategy: remote-wins}
    rate_limit: 10/100ms
    circuit_breaker: {failure_ratio: 0.5}
    throttle: {max: 200/s}
    degraded_after: 30s
`
	f, err := config.Parse("c.yaml", []byte(doc), envOf(nil), nil)
	require.NoError(t, err)
	c := f.Connectors[0]
	require.Equal(t, 4, c.Concurrency)
	require.Equal(t, config.OrderingNone, c.Ordering)
	require.Equal(t, "workflow.id", c.Key)
	require.Equal(t, "meta.rev", c.Version)
	require.Equal(t, 2048, c.MaxEventBytes)
	require.Equal(t, config.Retry{
		MaxAttempts: 3, Initial: config.Duration(250 * time.Millisecond),
		Max: config.Duration(5 * time.Second), Multiplier: 1.5, Jitter: 0.1,
	}, c.Retry)
	require.Equal(t, config.ConflictRemoteWins, c.Conflict.Strategy)
	require.Equal(t, config.Rate{N: 10, Per: 100 * time.Millisecond}, c.RateLimit)
	require.Equal(t, &config.Breaker{FailureRatio: 0.5, MinRequests: 20, Delay: config.Duration(30 * time.Second)}, c.CircuitBreaker)
	require.Equal(t, &config.Throttle{Max: config.Rate{N: 200, Per: time.Second}, Min: config.Rate{N: 1, Per: time.Second},
		Increase: config.Rate{N: 10, Per: time.Second}, Decrease: 0.5}, c.Throttle, "defaults: floor 1/s, back to max in 20 s, halve")
	require.Equal(t, config.Duration(30*time.Second), c.DegradedAfter)
}

// base is a valid connector; cases append lines to it (4-space indent).
const base = `connectors:
  - name: a
    kind: http
    subjects: [hms.workflow.updated]
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		env  map[string]string
		// want are substrings every one of which the error must contain.
		want []string
	}{
		{
			name: "unknown field",
			doc:  base + "    foo: 1\n",
			want: []string{"c.yaml:5:5:", "connectors[0].foo", `unknown field "foo"`},
		},
		{
			name: "bad duration in retry.initial",
			doc:  base + "    retry:\n      initial: 5x\n",
			want: []string{"c.yaml:6:", "connectors[0].retry.initial", `invalid duration "5x"`},
		},
		{
			name: "negative duration",
			doc:  base + "    retry: {max: -1s}\n",
			want: []string{"c.yaml:5:", "connectors[0].retry.max", "negative"},
		},
		{
			name: "bad duration in the kind block via Decode",
			doc:  base + "    http:\n      url: https://x.example/\n      timeout: 10x\n",
			want: []string{"c.yaml:7:", "connectors[0].http.timeout", `invalid duration "10x"`},
		},
		{
			name: "unknown field in the kind block via Decode",
			doc:  base + "    http:\n      bogus: 1\n",
			want: []string{"c.yaml:6:", "connectors[0].http.bogus", `unknown field "bogus"`},
		},
		{
			name: "delete_when of another shape",
			doc:  base + "    delete_when: status = cancelled\n",
			want: []string{"c.yaml:5:18:", "connectors[0].delete_when", `"status = cancelled": want $.path.to.field == "value"`},
		},
		{
			name: "delete_when comparing with an object",
			doc:  base + "    delete_when: '$.status == {\"a\": 1}'\n",
			want: []string{"c.yaml:5:", "connectors[0].delete_when", "not {"},
		},
		{
			name: "duplicate names",
			doc:  base + "  - name: a\n    kind: http\n    subjects: [hms.x]\n",
			want: []string{"c.yaml:5:", "connectors[1].name", `duplicate connector name "a"`, "connectors[0]"},
		},
		{
			name: "unset variable",
			doc:  base + "    http:\n      url: \"https://x.example/${NOPE}\"\n",
			want: []string{"c.yaml:6:", "connectors[0].http.url", "${NOPE} is not set"},
		},
		{
			name: "variable set to empty counts as unset",
			doc:  base + "    http:\n      url: \"${EMPTY}\"\n",
			env:  map[string]string{"EMPTY": ""},
			want: []string{"c.yaml:6:", "${EMPTY} is not set"},
		},
		{
			name: "bad name",
			doc:  "connectors:\n  - name: Court_Schedule\n    kind: http\n    subjects: [hms.x]\n",
			want: []string{"c.yaml:2:", "connectors[0].name", `"Court_Schedule"`},
		},
		{
			name: "name too long",
			doc:  "connectors:\n  - name: " + strings.Repeat("a", 49) + "\n    kind: http\n    subjects: [hms.x]\n",
			want: []string{"c.yaml:2:", "connectors[0].name"},
		},
		{
			name: "missing subjects",
			doc:  "connectors:\n  - name: a\n    kind: http\n",
			want: []string{"connectors[0].subjects", "at least one subject"},
		},
		{
			name: "invalid subject",
			doc:  "connectors:\n  - name: a\n    kind: http\n    subjects: [\"hms..x\"]\n",
			want: []string{"c.yaml:4:", "connectors[0].subjects[0]"},
		},
		{
			name: "missing kind",
			doc:  "connectors:\n  - name: a\n    subjects: [hms.x]\n",
			want: []string{"connectors[0].kind", "required"},
		},
		{
			name: "mode batch without a schedule",
			doc:  base + "    mode: batch\n",
			want: []string{"c.yaml:5:", "connectors[0].mode", "needs a schedule"},
		},
		{
			name: "batch time zone",
			doc:  base + "    mode: batch\n    batch: {at: \"02:00\", timezone: Mars/Olympus}\n",
			want: []string{"c.yaml:6:", "connectors[0].batch.timezone", `"Mars/Olympus" is not a time zone`},
		},
		{
			name: "batch time of day",
			doc:  base + "    mode: batch\n    batch: {at: \"2am\"}\n",
			want: []string{"connectors[0].batch.at", `"2am": want a time of day`},
		},
		{
			name: "batch size",
			doc:  base + "    mode: batch\n    batch: {every: 1h, max_bytes: 8 megs}\n",
			want: []string{"connectors[0].batch.max_bytes", `invalid size "8 megs"`},
		},
		{
			name: "batch too many events",
			doc:  base + "    mode: batch\n    batch: {every: 1h, max_events: 1000000}\n",
			want: []string{"connectors[0].batch.max_events", "out of range 1..100000"},
		},
		{
			name: "unknown mode",
			doc:  base + "    mode: sometimes\n",
			want: []string{"connectors[0].mode", `"sometimes"`},
		},
		{
			name: "block for another kind",
			doc:  base + "    webhook:\n      url: https://x.example/\n",
			want: []string{"c.yaml:6:", "connectors[0].webhook", `block given for kind "webhook"`, `kind is "http"`},
		},
		{
			name: "bad conflict strategy",
			doc:  base + "    conflict: {strategy: last-wins}\n",
			want: []string{"connectors[0].conflict.strategy", `"last-wins"`},
		},
		{
			name: "jitter out of range",
			doc:  base + "    retry: {jitter: 1.5}\n",
			want: []string{"connectors[0].retry.jitter"},
		},
		{
			name: "retry.max below initial",
			doc:  base + "    retry: {initial: 1m, max: 1s}\n",
			want: []string{"connectors[0].retry.max", "below retry.initial"},
		},
		{
			name: "bad rate",
			doc:  base + "    rate_limit: fast\n",
			want: []string{"c.yaml:5:", "connectors[0].rate_limit", `invalid rate "fast"`},
		},
		{
			name: "breaker ratio out of range",
			doc:  base + "    circuit_breaker: {failure_ratio: 2}\n",
			want: []string{"connectors[0].circuit_breaker.failure_ratio"},
		},
		{
			name: "throttle without max",
			doc:  base + "    throttle: {min: 5/s}\n",
			want: []string{"connectors[0].throttle.max", "is required"},
		},
		{
			name: "throttle floor above its max, decrease out of range",
			doc:  base + "    throttle: {max: 10/s, min: 20/s, decrease: 1.5}\n",
			want: []string{"connectors[0].throttle.min", "above throttle.max", "connectors[0].throttle.decrease"},
		},
		{
			name: "concurrency out of range",
			doc:  base + "    concurrency: 5000\n",
			want: []string{"c.yaml:5:", "connectors[0].concurrency"},
		},
		{
			name: "two mapping rules to one target",
			doc:  base + "    mapping: {a: x, b: x}\n",
			want: []string{"connectors[0].mapping.b", `both map to "x"`},
		},
		{
			name: "no connectors",
			doc:  "connectors: []\n",
			want: []string{"c.yaml:1:1:", "no connectors are defined"},
		},
		{
			name: "empty document",
			doc:  "",
			want: []string{"c.yaml", "is empty"},
		},
		{
			name: "YAML syntax error",
			doc:  "connectors:\n  - name: [a\n",
			want: []string{"c.yaml:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Parse("c.yaml", []byte(tt.doc), envOf(tt.env), decodeCheck(nil))
			require.Error(t, err)
			require.Nil(t, f)
			require.ErrorIs(t, err, config.ErrInvalid)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	doc := "connectors:\n  - name: Bad\n    kind: http\n    mode: batch\n"
	_, err := config.Parse("c.yaml", []byte(doc), envOf(nil), nil)
	require.ErrorIs(t, err, config.ErrInvalid)
	for _, w := range []string{"connectors[0].name", "connectors[0].subjects", "connectors[0].mode"} {
		require.Contains(t, err.Error(), w)
	}
	var ce *config.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "c.yaml", ce.File)
	require.Positive(t, ce.Line)
}

func TestParseCheckerErrorsArePlaced(t *testing.T) {
	check := func(c *config.Connector) error { return errors.New("unknown kind \"ftp\"") }
	doc := "connectors:\n  - name: a\n    kind: ftp\n    subjects: [hms.x]\n"
	_, err := config.Parse("c.yaml", []byte(doc), envOf(nil), check)
	require.ErrorIs(t, err, config.ErrInvalid)
	require.Contains(t, err.Error(), "c.yaml:3:")
	require.Contains(t, err.Error(), "connectors[0].kind")
	require.Contains(t, err.Error(), `unknown kind "ftp"`)
}

func TestParseExpandsVariables(t *testing.T) {
	env := map[string]string{
		"COURT_TOKEN": "tok",
		"INJECT":      "x: [1",
		"NEWLINE":     "line1\nmethod: DELETE",
		"BRACES":      "${COURT_TOKEN}",
	}
	doc := base + `    http:
      url: "https://${HOST:-court.example}/api/${INJECT}"
      method: "${NEWLINE}"
      headers: {Authorization: "Bearer ${COURT_TOKEN}", X-Raw: "${BRACES}"}
`
	var blocks []httpBlock
	f, err := config.Parse("c.yaml", []byte(doc), envOf(env), decodeCheck(&blocks))
	require.NoError(t, err)
	require.Len(t, f.Connectors, 1)
	require.Equal(t, []httpBlock{{
		URL:     "https://court.example/api/x: [1",
		Method:  "line1\nmethod: DELETE", // not a second YAML key
		Headers: map[string]string{"Authorization": "Bearer tok", "X-Raw": "${COURT_TOKEN}"},
	}}, blocks)

	// A set variable wins over the default.
	env["HOST"] = "other.example"
	blocks = nil
	_, err = config.Parse("c.yaml", []byte(doc), envOf(env), decodeCheck(&blocks))
	require.NoError(t, err)
	require.Equal(t, "https://other.example/api/x: [1", blocks[0].URL)
}

func TestParseNeverShowsSecrets(t *testing.T) {
	const secret = "s3cr3t-value"
	env := map[string]string{"COURT_TOKEN": secret}
	header := "    http:\n      url: https://x.example/\n      headers: {Authorization: \"Bearer ${COURT_TOKEN}\"}\n"
	tests := []struct{ name, doc string }{
		{"unknown field after", base + header + "    bogus: 1\n"},
		{"bad duration after", base + header + "    retry: {initial: 5x}\n"},
		{"wrong type after", base + header + "    concurrency: lots\n"},
		{"bad duration in the block", base + header + "      timeout: 5x\n"},
		{"unknown field in the block", base + header + "      extra: 1\n"},
		{"headers of the wrong shape", base + "    http:\n      headers: [\"Bearer ${COURT_TOKEN}\"]\n"},
		{"validation problem", base + header + "    mode: batch\n"},
		{"unset variable next to it", base + header + "      method: \"${NOPE}\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("c.yaml", []byte(tt.doc), envOf(env), decodeCheck(nil))
			require.ErrorIs(t, err, config.ErrInvalid)
			require.NotContains(t, err.Error(), secret)
			require.NotContains(t, fmt.Sprintf("%+v", err), secret)
		})
	}
}

// A ${VAR} put in the wrong field by mistake is still a secret: the error
// should name the field, not echo the expanded value.
func TestParseNeverEchoesExpandedValues(t *testing.T) {
	const secret = "s3cr3t-value"
	env := map[string]string{"COURT_TOKEN": secret}
	tests := []struct{ name, line string }{
		{"duration", "    retry: {initial: \"${COURT_TOKEN}\"}\n"},
		{"rate", "    rate_limit: \"${COURT_TOKEN}\"\n"},
		{"conflict strategy", "    conflict: {strategy: \"${COURT_TOKEN}\"}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("c.yaml", []byte(base+tt.line), envOf(env), decodeCheck(nil))
			require.ErrorIs(t, err, config.ErrInvalid)
			require.NotContains(t, err.Error(), secret)
		})
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "hunter2-token"
	s := config.Secret(value)
	type holder struct {
		Token config.Secret `json:"token"`
	}
	h := holder{Token: s}

	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", s),
		//lint:ignore S1025 the test is about what the %s verb prints
		"%s":     fmt.Sprintf("%s", s),
		"%q":     fmt.Sprintf("%q", s),
		"%#v":    fmt.Sprintf("%#v", s),
		"%x":     fmt.Sprintf("%x", s),
		"%+v":    fmt.Sprintf("%+v", h),
		"%#v st": fmt.Sprintf("%#v", h),
		"Error":  fmt.Errorf("login with %v failed", s).Error(),
	}
	j, err := json.Marshal(s)
	require.NoError(t, err)
	outputs["json"] = string(j)
	j, err = json.Marshal(h)
	require.NoError(t, err)
	outputs["json struct"] = string(j)
	require.JSONEq(t, `{"token":"[redacted]"}`, string(j))

	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("connect", "token", s, "holder", h, slog.Any("any", s))
	slog.New(slog.NewJSONHandler(&js, nil)).Info("connect", "token", s, "holder", h, slog.Any("any", s))
	outputs["slog text"] = text.String()
	outputs["slog json"] = js.String()
	require.Contains(t, text.String(), "token=[redacted]")
	require.Contains(t, js.String(), `"token":"[redacted]"`)

	for name, out := range outputs {
		require.NotContains(t, out, value, name)
		if name != "%x" {
			require.Contains(t, out, "redacted", name)
		}
	}
	require.Equal(t, fmt.Sprintf("%x", "[redacted]"), outputs["%x"])
	require.Equal(t, value, s.Reveal())
	require.Equal(t, "", config.Secret("").String())
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want config.Rate
		bad  bool
	}{
		{in: "50/s", want: config.Rate{N: 50, Per: time.Second}},
		{in: "5/m", want: config.Rate{N: 5, Per: time.Minute}},
		{in: "1/h", want: config.Rate{N: 1, Per: time.Hour}},
		{in: "10/100ms", want: config.Rate{N: 10, Per: 100 * time.Millisecond}},
		{in: " 3/2s ", want: config.Rate{N: 3, Per: 2 * time.Second}},
		{in: "", bad: true},
		{in: "50", bad: true},
		{in: "50/", bad: true},
		{in: "/s", bad: true},
		{in: "0/s", bad: true},
		{in: "-5/s", bad: true},
		{in: "x/s", bad: true},
		{in: "5/d", bad: true},
		{in: "5/0s", bad: true},
		{in: "5/-1s", bad: true},
		{in: "1.5/s", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := config.ParseRate(tt.in)
			if tt.bad {
				require.Error(t, err)
				require.Contains(t, err.Error(), fmt.Sprintf("invalid rate %q", tt.in))
				require.True(t, got.IsZero())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.False(t, got.IsZero())
		})
	}
}

func TestBatchBlock(t *testing.T) {
	doc := "connectors:\n  - name: nightly\n    kind: http\n    subjects: [hms.workflow.updated]\n    mode: batch\n" +
		"    batch: {every: 1h, at: \"02:00\", timezone: Europe/Dublin, max_events: 500, max_bytes: 2MiB}\n    http: {url: \"http://x/{id}\"}\n"
	f, err := config.Parse("c.yaml", []byte(doc), envOf(nil), nil)
	require.NoError(t, err)
	b := f.Connectors[0].Batch
	require.Equal(t, time.Hour, b.Every.D())
	h, m, ok := b.AtClock()
	require.True(t, ok)
	require.Equal(t, [2]int{2, 0}, [2]int{h, m})
	require.Equal(t, "Europe/Dublin", b.Location().String())
	require.Equal(t, 500, b.MaxEvents)
	require.EqualValues(t, 2<<20, b.MaxBytes)
}
