package admin

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/synclog"
)

// maxLogRecords bounds one /api/v1/log answer; narrow the filter or use
// `extsync log` for more.
const maxLogRecords = 5000

func (o Ops) listLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, err := config.ParseTime(q.Get("since"), time.Now())
	if err != nil {
		WriteError(w, http.StatusBadRequest, "since "+err.Error())
		return
	}
	f := synclog.Filter{Connector: q.Get("connector"), EventID: q.Get("event"), Entity: q.Get("entity"),
		Status: q.Get("status"), Since: since}
	recs := []synclog.Record{}
	err = synclog.Query(r.Context(), o.JS, f, func(rec synclog.Record) error {
		recs = append(recs, rec)
		if len(recs) == maxLogRecords {
			return errTooMany
		}
		return nil
	})
	if errors.Is(err, errTooMany) {
		w.Header().Set("Extsync-Truncated", strconv.Itoa(maxLogRecords))
		err = nil
	}
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, recs)
}

var errTooMany = errors.New("too many records")
