package coherence

import (
	"sort"
)

// The states of an entity after a check.
const (
	InStep  = "in_step" // the system holds every delivered field as delivered
	Drifted = "drifted" // the system's record differs in some delivered field
	Missing = "missing" // the system has no record of the entity
	// Failed says the check could not tell: the read failed.
	Failed = "failed"
)

// Entity is one entity found not in step, or whose check failed.
type Entity struct {
	// Key is the entity key; for an entity whose key cannot be recovered
	// (a hashed state key whose event left the stream), the state key.
	Key   string `json:"key"`
	State string `json:"state"`
	// Fields are the delivered fields whose values differ (drifted), or
	// every delivered field (missing); never null.
	Fields []Field `json:"fields"`
	// Status is the system's status code, when its protocol has one.
	Status int `json:"status,omitempty"`
	// Reason says why an entity is not in step when its fields alone do
	// not: it was deleted, yet the system still holds a record.
	Reason string `json:"reason,omitempty"`
	// Error says why a check failed, or why a repair could not be sent.
	Error string `json:"error,omitempty"`
	// Repaired says the version last delivered was sent again.
	Repaired bool `json:"repaired,omitempty"`
}

// Result is what a check found. Its JSON is the output of
// `extsync verify --json`.
type Result struct {
	Connector string `json:"connector"`
	// Checked counts the entities whose record was compared: in step,
	// drifted or missing.
	Checked  int `json:"checked"`
	InStep   int `json:"in_step"`
	Drifted  int `json:"drifted"`
	Missing  int `json:"missing"`
	Repaired int `json:"repaired"`
	// Failed counts the entities whose check could not tell (a read
	// failed); they are listed in Entities with state failed.
	Failed int `json:"failed,omitempty"`
	// Entities lists the entities not in step, by key; never null.
	Entities []Entity `json:"entities"`
	// Skipped counts entities with no delivered record kept yet (a first
	// delivery under way): nothing to compare.
	Skipped int `json:"-"`
}

// InStepAll says whether every entity checked is in step and none failed.
func (r *Result) InStepAll() bool {
	return r.Drifted == 0 && r.Missing == 0 && r.Failed == 0
}

func (r *Result) add(e Entity) {
	switch e.State {
	case InStep:
		r.Checked++
		r.InStep++
		return
	case Drifted:
		r.Checked++
		r.Drifted++
	case Missing:
		r.Checked++
		r.Missing++
	case Failed:
		r.Failed++
	case "":
		r.Skipped++
		return
	}
	if e.Repaired {
		r.Repaired++
	}
	if e.Fields == nil {
		e.Fields = []Field{}
	}
	r.Entities = append(r.Entities, e)
}

func (r *Result) sort() {
	sort.Slice(r.Entities, func(i, j int) bool { return r.Entities[i].Key < r.Entities[j].Key })
}
