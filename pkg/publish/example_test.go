package publish_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hms/extsync/pkg/publish"
)

// A platform module publishes a workflow change the way extsync reads it
// best: a CloudEvent with the entity's key and version, stored once even
// if the publish is retried with the same id.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url, stop := exampleServer() // in production: the platform's NATS URL
	defer stop()

	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := publish.New(js, "hms/policy")
	workflow := map[string]any{"id": "wf-1", "name": "Attorney Rotation", "status": "approved"}
	for range 2 { // a retried publish: same id, stored once
		res, err := p.Publish(ctx, "hms.workflow.updated", workflow,
			publish.WithID("evt-42"), publish.WithVersion("7"))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s stored in %s at %d (duplicate: %t)\n", res.ID, res.Stream, res.Seq, res.Duplicate)
	}
	// Output:
	// evt-42 stored in HMS_EVENTS at 1 (duplicate: false)
	// evt-42 stored in HMS_EVENTS at 1 (duplicate: true)
}

// exampleServer runs a JetStream server with the event stream extsync
// would create, and returns its URL.
func exampleServer() (string, func()) {
	dir, _ := os.MkdirTemp("", "publish-example")
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		panic("nats-server not ready")
	}
	nc, _ := nats.Connect(s.ClientURL())
	js, _ := jetstream.New(nc)
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: "HMS_EVENTS", Subjects: []string{"hms.>"}, Duplicates: 2 * time.Minute})
	nc.Close()
	if err != nil {
		panic(err)
	}
	return s.ClientURL(), func() { s.Shutdown(); _ = os.RemoveAll(dir) }
}
