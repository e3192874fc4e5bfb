package console

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hms/extsync/pkg/synclog"
)

// The overview's chart: delivered, retried and dead-lettered attempts per
// hour over the last day, from the sync log. Reading a day of a busy log
// is not free, so the figures are kept for activityTTL and the read
// stops at maxActivityRecords (the chart then says it is partial).
const (
	activityHours      = 24
	activityTTL        = 30 * time.Second
	maxActivityRecords = 500_000
)

type hourBar struct {
	Hour                     time.Time
	Delivered, Retried, Dead int
}

// bar is one drawn rectangle, coordinates computed here so the template
// only places them.
type bar struct {
	X, Y, H int
	Class   string // d, r or x
	Label   string
}

type activityData struct {
	Bars                     []bar
	Hours                    []hourLabel
	Delivered, Retried, Dead int
	Max                      int
	Partial                  bool
	Err                      string
	// LastHour is each connector's last hour, in sparkSlots slots.
	LastHour map[string]*spark
}

// spark is one connector's last hour: attempts per five minutes, drawn
// small in its overview row.
type spark struct {
	slots                    [sparkSlots][3]int // delivered, retried, dead-lettered
	Delivered, Retried, Dead int
	Bars                     []bar
}

// Spark geometry: sparkSlots slots of sparkW units, sparkH high.
const (
	sparkSlots = 12
	sparkW     = 6
	sparkH     = 20
)

type hourLabel struct {
	X    int
	Text string
}

// Chart geometry, in SVG user units.
const (
	chartH   = 120
	barW     = 7
	groupW   = 3*barW + 6
	chartPad = 28
)

type activityCache struct {
	mu   sync.Mutex
	at   time.Time
	data activityData
}

func (c *Console) activity(ctx context.Context) activityData {
	c.act.mu.Lock()
	defer c.act.mu.Unlock()
	if time.Since(c.act.at) < activityTTL {
		return c.act.data
	}
	c.act.data, c.act.at = c.readActivity(ctx, time.Now().UTC()), time.Now()
	return c.act.data
}

var errActivityCap = errors.New("activity cap")

func (c *Console) readActivity(ctx context.Context, now time.Time) activityData {
	first := now.Truncate(time.Hour).Add(-(activityHours - 1) * time.Hour)
	hours := make([]hourBar, activityHours)
	for i := range hours {
		hours[i].Hour = first.Add(time.Duration(i) * time.Hour)
	}
	d := activityData{LastHour: map[string]*spark{}}
	hourAgo := now.Add(-time.Hour)
	n := 0
	err := synclog.Query(ctx, c.o.JS, synclog.Filter{Since: first}, func(r synclog.Record) error {
		i := int(r.Time.Sub(first) / time.Hour)
		if i < 0 || i >= activityHours {
			return nil
		}
		kind := -1
		switch r.Outcome {
		case "delivered":
			hours[i].Delivered++
			kind = 0
		case "retry":
			hours[i].Retried++
			kind = 1
		case "dead-lettered":
			hours[i].Dead++
			kind = 2
		}
		if kind >= 0 && r.Time.After(hourAgo) {
			d.LastHour[r.Connector] = d.LastHour[r.Connector].add(int(r.Time.Sub(hourAgo)/(time.Hour/sparkSlots)), kind)
		}
		if n++; n >= maxActivityRecords {
			return errActivityCap
		}
		return nil
	})
	if errors.Is(err, errActivityCap) {
		d.Partial, err = true, nil
	}
	if err != nil {
		d.Err = fmt.Sprintf("sync log: %v", err)
	}
	for _, h := range hours {
		d.Max = max(d.Max, h.Delivered, h.Retried, h.Dead)
		d.Delivered += h.Delivered
		d.Retried += h.Retried
		d.Dead += h.Dead
	}
	scale := func(v int) int {
		if d.Max == 0 || v == 0 {
			return 0
		}
		return max(1, v*chartH/d.Max)
	}
	for i, h := range hours {
		x := chartPad + i*groupW
		for j, v := range []struct {
			n     int
			class string
			what  string
		}{{h.Delivered, "d", "delivered"}, {h.Retried, "r", "retried"}, {h.Dead, "x", "dead-lettered"}} {
			hgt := scale(v.n)
			d.Bars = append(d.Bars, bar{X: x + j*barW, Y: chartH - hgt, H: hgt, Class: v.class,
				Label: fmt.Sprintf("%s: %d %s", h.Hour.Format("15:04"), v.n, v.what)})
		}
		if i%4 == 0 {
			d.Hours = append(d.Hours, hourLabel{X: x, Text: h.Hour.Format("15:04")})
		}
	}
	for _, sp := range d.LastHour {
		sp.draw()
	}
	return d
}

// add counts one attempt of kind in slot (nil sp: a new spark).
func (sp *spark) add(slot, kind int) *spark {
	if sp == nil {
		sp = &spark{}
	}
	slot = min(max(slot, 0), sparkSlots-1)
	sp.slots[slot][kind]++
	switch kind {
	case 0:
		sp.Delivered++
	case 1:
		sp.Retried++
	default:
		sp.Dead++
	}
	return sp
}

// draw stacks each slot's attempts, failures on top, scaled to the
// busiest slot.
func (sp *spark) draw() {
	top := 0
	for _, s := range sp.slots {
		top = max(top, s[0]+s[1]+s[2])
	}
	if top == 0 {
		return
	}
	for i, s := range sp.slots {
		y := sparkH
		for k, class := range []string{"d", "r", "x"} {
			if s[k] == 0 {
				continue
			}
			h := max(1, s[k]*sparkH/top)
			y -= h
			sp.Bars = append(sp.Bars, bar{X: i * sparkW, Y: y, H: h, Class: class})
		}
	}
}
