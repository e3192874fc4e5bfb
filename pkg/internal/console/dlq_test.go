package console_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	rowRe  = regexp.MustCompile(`aria-label="Dead letter \d+">`)
	nextRe = regexp.MustCompile(`href="/dlq\?([^"]+)" rel="next"`)
)

// The list is paged server-side, 50 a page, keeps its filter across
// pages, and filters by connector, status and reason text.
func TestDeadLetterFilteringAndPaging(t *testing.T) {
	f := newFixture(t, "", "")
	f.park(t, "court", 120)
	f.park(t, "clinic", 5)
	b := f.browser(t)

	_, body := b.get("/dlq")
	require.Contains(t, body, "Parked: 125")
	require.Len(t, rowRe.FindAllString(body, -1), 50)

	pages, rows := 0, 0
	path := "/dlq?connector=court"
	for {
		pages++
		require.LessOrEqual(t, pages, 3)
		resp, body := b.get(path)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, body, "clinic-1<")
		rows += len(rowRe.FindAllString(body, -1))
		m := nextRe.FindStringSubmatch(body)
		if m == nil {
			break
		}
		next := strings.ReplaceAll(m[1], "&amp;", "&")
		q, err := url.ParseQuery(next)
		require.NoError(t, err)
		require.Equal(t, "court", q.Get("connector"), "the filter is kept")
		if pages == 2 {
			require.Contains(t, body, "First page")
		}
		path = "/dlq?" + next
	}
	require.Equal(t, 3, pages)
	require.Equal(t, 120, rows)

	_, body = b.get("/dlq?connector=court&reason=unknown+COURT")
	require.Len(t, rowRe.FindAllString(body, -1), 50, "60 match: a full first page")
	_, body = b.get("/dlq?reason=unknown+court&connector=clinic")
	require.Len(t, rowRe.FindAllString(body, -1), 2)
	_, body = b.get("/dlq?status=exhausted")
	require.Contains(t, body, "No dead letter matches.")
	_, body = b.get("/dlq?id=clinic-3")
	require.Len(t, rowRe.FindAllString(body, -1), 1)
	resp, body := b.get("/dlq?since=yesterday")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "since")
}

// The dry run counts everything the filter matches (not a page), shows
// a sample, and its buttons name the count; a replay to a connector
// that does not run is refused before anything is sent.
func TestDryRunCountsTheWholeSelection(t *testing.T) {
	f := newFixture(t, "", "")
	f.park(t, "court", 120)
	b := f.browser(t)

	_, body := b.get("/dlq/confirm?action=purge&connector=court&reason=bad+field")
	require.Contains(t, body, "<strong>60 dead letters</strong> would be purged")
	require.Contains(t, body, "The first 10 of 60")
	require.Contains(t, body, "Purge 60 dead letters for good")
	require.Contains(t, body, `name="until"`, "the selection is pinned to the dry run's time")

	resp, body := b.get("/dlq/confirm?action=replay&connector=court")
	require.Equal(t, http.StatusConflict, resp.StatusCode, "court has no replay consumer here")
	require.Contains(t, body, "no replay consumer")

	form := url.Values{"connector": {"court"}, "reason": {"bad field"}, "csrf": {b.csrf}}
	resp, body = b.post("/dlq/purge", form, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, "Purged 60 dead letters.")
	_, body = b.get("/dlq")
	require.Contains(t, body, "Parked: 60")
}
