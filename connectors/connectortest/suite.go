package connectortest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/pkg/event"
)

// Harness connects the suite to one kind and a live system of that kind.
type Harness struct {
	// New builds a connector that delivers to the live system.
	New func(t *testing.T) connectors.Connector
	// NewUnreachable builds a connector whose system is down (a closed
	// port, say); deliveries must fail as transient.
	NewUnreachable func(t *testing.T) connectors.Connector
	// Received returns the entity keys the system has stored, one entry
	// per stored record or request, in arrival order.
	Received func(t *testing.T) []string
	// Rejecting, if set, builds a connector whose system refuses every
	// delivery for a reason retrying cannot fix (e.g. HTTP 400, a SOAP
	// Client fault, a constraint violation).
	Rejecting func(t *testing.T) connectors.Connector
}

// Delivery returns a delivery for entity key with a simple body.
func Delivery(key string, version int) *connectors.Delivery {
	data := map[string]any{"id": key, "version": version, "name": "Attorney Rotation " + key}
	return &connectors.Delivery{
		Event: &event.Event{
			ID: "evt-" + key + "-" + fmt.Sprint(version), Subject: "hms.workflow.updated", Stream: "HMS_EVENTS",
			Key: key, Version: fmt.Sprint(version), Time: time.Now(), Data: data, Body: []byte(`{}`),
		},
		Body:    map[string]any{"id": key, "version": version, "name": data["name"]},
		Attempt: 1,
	}
}

// Run runs every test of the suite.
func Run(t *testing.T, h Harness) {
	t.Run("DeliversAndConfirms", func(t *testing.T) { deliversAndConfirms(t, h) })
	t.Run("ConcurrentDeliveries", func(t *testing.T) { concurrent(t, h) })
	t.Run("UnreachableIsTransient", func(t *testing.T) { unreachable(t, h) })
	t.Run("CancelledContextFails", func(t *testing.T) { cancelled(t, h) })
	t.Run("TimeoutAndClose", func(t *testing.T) { timeoutAndClose(t, h) })
	t.Run("DeletionIsIdempotentOrRefused", func(t *testing.T) { deletion(t, h) })
	if h.Rejecting != nil {
		t.Run("RejectionIsPermanentOrConflict", func(t *testing.T) { rejecting(t, h) })
	}
}

func deliversAndConfirms(t *testing.T, h Harness) {
	c := h.New(t)
	defer c.Close()
	require.NoError(t, c.Deliver(context.Background(), Delivery("wf-1", 1)))
	require.Contains(t, h.Received(t), "wf-1", "the system stored the delivered event")
}

func concurrent(t *testing.T, h Harness) {
	c := h.New(t)
	defer c.Close()
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = c.Deliver(context.Background(), Delivery(fmt.Sprintf("c-%d", i), 1)) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	got := map[string]bool{}
	for _, k := range h.Received(t) {
		got[k] = true
	}
	for i := range n {
		require.True(t, got[fmt.Sprintf("c-%d", i)], "c-%d stored", i)
	}
}

func unreachable(t *testing.T, h Harness) {
	c := h.NewUnreachable(t)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.Deliver(ctx, Delivery("down-1", 1))
	require.Error(t, err)
	require.ErrorIs(t, err, connectors.ErrTransient, "a system that is down is worth retrying: %v", err)
}

func cancelled(t *testing.T, h Harness) {
	c := h.New(t)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.Deliver(ctx, Delivery("cancelled-1", 1))
	require.Error(t, err, "a cancelled context must not report success")
	require.NotErrorIs(t, err, connectors.ErrPermanent, "cancellation is not the event's fault: %v", err)
}

func timeoutAndClose(t *testing.T, h Harness) {
	c := h.New(t)
	require.Positive(t, c.Timeout(), "the pipeline sizes the ack wait from Timeout")
	require.NoError(t, c.Close())
}

func rejecting(t *testing.T, h Harness) {
	c := h.Rejecting(t)
	defer c.Close()
	err := c.Deliver(context.Background(), Delivery("bad-1", 1))
	require.Error(t, err)
	class := connectors.Classify(err)
	require.Contains(t, []connectors.Class{connectors.Permanent, connectors.Conflict}, class, "got %v", err)
}

// deletion: a kind that deletes (connectors.Deleter) takes a deletion of
// a record it holds, and the same deletion again once it is gone; a kind
// that cannot refuses it as permanent with ErrCannotDelete, rather than
// sending it as an update.
func deletion(t *testing.T, h Harness) {
	c := h.New(t)
	defer c.Close()
	ctx := context.Background()
	require.NoError(t, c.Deliver(ctx, Delivery("wf-del", 1)))
	d := Delivery("wf-del", 2)
	d.Delete = true
	err := connectors.Send(ctx, c, d)
	if _, ok := c.(connectors.Deleter); !ok {
		require.ErrorIs(t, err, connectors.ErrCannotDelete)
		require.Equal(t, connectors.Permanent, connectors.Classify(err))
		return
	}
	require.NoError(t, err, "deleting a record the system holds")
	again := Delivery("wf-del", 2)
	again.Delete = true
	require.NoError(t, connectors.Send(ctx, c, again), "deleting it again, once it is gone")
}
