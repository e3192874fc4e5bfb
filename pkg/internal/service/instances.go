package service

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hms/extsync/pkg/internal/pipeline"
)

// StatusSubject is where every running instance answers a request for
// the state of its connectors (core NATS request/reply, no stream). A
// requester publishes with a reply inbox and gathers the answers that
// come within a moment: one InstanceStatus per instance.
const StatusSubject = "extsync.instances.status"

// InstanceStatus is one instance's answer on StatusSubject.
type InstanceStatus struct {
	// Instance names the process: host, PID and its NATS client id.
	Instance   string              `json:"instance"`
	Connectors []InstanceConnector `json:"connectors"`
}

// InstanceConnector is a connector as one instance has it: running (and
// at which connector store revision) or not, and when it could not take a
// revision of the store, which one and why (RegistryError).
type InstanceConnector struct {
	pipeline.ConnectorStatus
	// RefusedRevision is the latest store revision this instance could
	// not load or start; zero when it took every revision it saw.
	RefusedRevision uint64 `json:"refused_revision,omitempty"`
}

// instanceName names this process in InstanceStatus.
func instanceName(nc *nats.Conn) string {
	host, _ := os.Hostname()
	name := fmt.Sprintf("%s:%d", host, os.Getpid())
	if id, err := nc.GetClientID(); err == nil {
		name += fmt.Sprintf("/c%d", id)
	}
	return name
}

// answerStatus serves StatusSubject until the connection closes.
func (svc *Service) answerStatus() error {
	name := instanceName(svc.nc)
	_, err := svc.nc.Subscribe(StatusSubject, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		body, err := json.Marshal(svc.instanceStatus(ctx, name))
		if err != nil {
			return
		}
		_ = m.Respond(body)
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", StatusSubject, err)
	}
	return nil
}

func (svc *Service) instanceStatus(ctx context.Context, name string) InstanceStatus {
	out := InstanceStatus{Instance: name, Connectors: []InstanceConnector{}}
	var refused map[string]uint64
	if svc.live != nil {
		refused = svc.live.refusedRevisions()
	}
	for _, st := range svc.Status(ctx) {
		out.Connectors = append(out.Connectors, InstanceConnector{ConnectorStatus: st, RefusedRevision: refused[st.Name]})
	}
	return out
}

// refusedRevisions maps each connector this instance refused to the
// revision it refused.
func (l *reloader) refusedRevisions() map[string]uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]uint64, len(l.refused))
	for name, bad := range l.refused {
		out[name] = bad.revision
	}
	return out
}

// notRunnable names the connectors of the store this instance runs no
// revision of because it could not load or start them.
func (l *reloader) notRunnable() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(l.refused)) {
		if _, runs := l.applied[name]; runs {
			continue // an older revision runs: the connector is served
		}
		bad := l.refused[name]
		problems = append(problems, fmt.Sprintf("connector %s not running here: revision %d not applied: %s",
			name, bad.revision, bad.err))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s (fix it and apply again)", strings.Join(problems, "; "))
}
