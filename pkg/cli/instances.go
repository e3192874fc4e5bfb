package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hms/extsync/pkg/internal/connstore"
	"github.com/hms/extsync/pkg/internal/service"
)

// askInstances gathers the answers of every running instance to a status
// request (service.StatusSubject): it waits up to a second and a half for
// the first, then until none has come for a moment. No instance running
// is an empty answer, not an error.
func askInstances(ctx context.Context, nc *nats.Conn) ([]service.InstanceStatus, error) {
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(service.StatusSubject, inbox, nil); err != nil {
		return nil, err
	}
	var out []service.InstanceStatus
	wait := 1500 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		m, err := sub.NextMsg(wait)
		if err != nil {
			break // quiet for wait: everyone who will answer has
		}
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			break // no responders: no instance runs
		}
		var st service.InstanceStatus
		if json.Unmarshal(m.Data, &st) == nil {
			out = append(out, st)
		}
		wait = 300 * time.Millisecond
	}
	slices.SortFunc(out, func(a, b service.InstanceStatus) int { return strings.Compare(a.Instance, b.Instance) })
	return out, nil
}

// instanceConnector is name as inst has it, if it knows it.
func instanceConnector(inst service.InstanceStatus, name string) (service.InstanceConnector, bool) {
	for _, c := range inst.Connectors {
		if c.Name == name {
			return c, true
		}
	}
	return service.InstanceConnector{}, false
}

// takeState is what one instance did with one applied revision.
type takeState int

const (
	takePending takeState = iota
	takeRunning
	takeRefused
)

func takeOf(inst service.InstanceStatus, name string, rev uint64) (takeState, service.InstanceConnector) {
	c, ok := instanceConnector(inst, name)
	switch {
	case !ok:
		return takePending, c
	case c.RefusedRevision >= rev:
		return takeRefused, c
	case c.Revision >= rev:
		return takeRunning, c
	}
	return takePending, c
}

// awaitInstances asks the running instances, until every one has taken
// or refused each change or wait has passed, and returns their last
// answers.
func awaitInstances(ctx context.Context, nc *nats.Conn, changes []connstore.Change, wait time.Duration) ([]service.InstanceStatus, error) {
	deadline := time.Now().Add(wait)
	for {
		sts, err := askInstances(ctx, nc)
		if err != nil {
			return sts, err
		}
		settled := len(sts) > 0
		for _, inst := range sts {
			for _, c := range changes {
				if s, _ := takeOf(inst, c.Name, c.Revision); s == takePending {
					settled = false
				}
			}
		}
		if settled || time.Now().After(deadline) {
			return sts, nil
		}
		select {
		case <-ctx.Done():
			return sts, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// reportApplied prints, per connector applied, what each instance did
// with it, and returns an error naming the connectors no instance runs
// at the applied revision.
func reportApplied(w io.Writer, changes []connstore.Change, sts []service.InstanceStatus, wait time.Duration) error {
	if len(sts) == 0 {
		return fmt.Errorf("stored in the connector store, but no running instance answered within %s: "+
			"nothing runs %s until an `extsync serve` starts (is it running, and on this NATS?)", wait, names(changes))
	}
	var applied, same, failed []string
	for _, c := range changes {
		what := "changed"
		if !c.Changed {
			what = "unchanged"
		}
		fmt.Fprintf(w, "%s: revision %d (%s)\n", c.Name, c.Revision, what)
		running := 0
		var reasons []string
		for _, inst := range sts {
			s, ic := takeOf(inst, c.Name, c.Revision)
			switch s {
			case takeRunning:
				running++
				fmt.Fprintf(w, "  %s: running revision %d\n", inst.Instance, ic.Revision)
			case takeRefused:
				reason := strings.TrimPrefix(ic.RegistryError, fmt.Sprintf("revision %d not applied here: ", ic.RefusedRevision))
				reasons = append(reasons, reason)
				keeps := "does not run it"
				if ic.Revision > 0 {
					keeps = fmt.Sprintf("keeps running revision %d", ic.Revision)
				}
				fmt.Fprintf(w, "  ! %s: not applied: %s; %s\n", inst.Instance, reason, keeps)
			default:
				still := "has not started it"
				if ic.Revision > 0 {
					still = fmt.Sprintf("still runs revision %d (draining the old runner?)", ic.Revision)
				}
				fmt.Fprintf(w, "  ? %s: %s after %s\n", inst.Instance, still, wait)
			}
		}
		fmt.Fprintf(w, "  running on %d of %d %s\n", running, len(sts), plural(len(sts), "instance", "instances"))
		switch {
		case running == 0:
			why := "none took it in time"
			if len(reasons) > 0 {
				why = slices.Compact(slices.Sorted(slices.Values(reasons)))[0]
			}
			failed = append(failed, fmt.Sprintf("%s: no instance runs revision %d: %s", c.Name, c.Revision, why))
		case c.Changed:
			applied = append(applied, c.Name)
		default:
			same = append(same, c.Name)
		}
	}
	if len(applied) > 0 {
		fmt.Fprintf(w, "applied %d %s: %s\n", len(applied), plural(len(applied), "connector", "connectors"), strings.Join(applied, ", "))
	}
	if len(same) > 0 {
		fmt.Fprintf(w, "unchanged, left running as they are: %s\n", strings.Join(same, ", "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}

func names(changes []connstore.Change) string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.Name
	}
	return strings.Join(out, ", ")
}

// count is n and the noun: "1 dead letter", "2 dead letters".
func count(n int, one, many string) string {
	return fmt.Sprintf("%d %s", n, plural(n, one, many))
}

// plural is one when n is 1, else many.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
