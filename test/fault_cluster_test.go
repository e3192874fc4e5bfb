//go:build fault

package test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// cluster is three in-process JetStream servers routed to each other.
type cluster struct {
	servers []*server.Server
	urls    []string
}

// startCluster starts a 3-node cluster.
func startCluster(t *testing.T) *cluster { return startClusterVia(t, nil) }

// startClusterVia starts a 3-node cluster whose node from reaches node to
// at via(from, to, addr) instead of its cluster address addr (a proxy).
func startClusterVia(t *testing.T, via func(from, to int, addr string) string) *cluster {
	t.Helper()
	const n = 3
	clusterPorts := make([]int, n)
	for i := range n {
		clusterPorts[i] = binFreePort(t)
	}
	c := &cluster{}
	for i := range n {
		var routes []string
		for j := range n {
			if j == i {
				continue
			}
			addr := fmt.Sprintf("127.0.0.1:%d", clusterPorts[j])
			if via != nil {
				addr = via(i, j, addr)
			}
			routes = append(routes, "nats-route://"+addr)
		}
		o := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: binFreePort(t),
			JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
			Cluster: server.ClusterOpts{Name: "hms", Host: "127.0.0.1", Port: clusterPorts[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		if via != nil {
			// Routes only as given, one connection per pair: an address
			// learnt by gossip leads nowhere and no pooled connection is
			// dialled around the proxies.
			o.Cluster.Advertise, o.Cluster.PoolSize = "127.0.0.1:1", -1
		}
		s, err := server.NewServer(o)
		require.NoError(t, err)
		go s.Start()
		require.True(t, s.ReadyForConnections(15*time.Second))
		t.Cleanup(s.Shutdown)
		c.servers = append(c.servers, s)
		c.urls = append(c.urls, s.ClientURL())
	}
	for _, url := range c.urls {
		nc, err := nats.Connect(url)
		require.NoError(t, err)
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := js.AccountInfo(ctx)
			return err == nil
		}, 30*time.Second, 100*time.Millisecond, "every node reaches the JetStream meta leader")
		nc.Close()
	}
	return c
}

// streamLeader names the server leading stream.
func streamLeader(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	var leader string
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil {
			return false
		}
		leader = info.Cluster.Leader
		return leader != ""
	}, 30*time.Second, 100*time.Millisecond)
	return leader
}

// clusterServe runs `extsync serve` against the cluster with every
// stream and bucket at three replicas.
func clusterServe(t *testing.T, urls []string) ([]string, *faultSink) {
	sink := newFaultSink(nil)
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	env := append(binBaseEnv(t), "EXTSYNC_NATS_URL="+strings.Join(urls, ","), "EXTSYNC_REPLICAS=3",
		"EXTSYNC_LOG_LEVEL=warn", "EXTSYNC_CONNECTORS="+binWriteFile(t, "c.yaml", sinkDoc(srv.URL, "")))
	return env, sink
}

func TestFaultClusterLosesItsStreamLeader(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	env, sink := clusterServe(t, c.urls)
	serve := startServeOnly(t, env)
	_, js := jsClient(t, strings.Join(c.urls, ","))

	const n = 3000
	killPublishRange(t, strings.Join(c.urls, ","), 0, n/2)
	require.Eventually(t, func() bool { d, _, _ := sink.counts(); return d >= 200 }, time.Minute, 10*time.Millisecond)
	leader := streamLeader(t, js, "HMS_EVENTS")
	var atLoss int
	for _, s := range c.servers {
		if s.Name() == leader {
			atLoss, _, _ = sink.counts()
			s.Shutdown()
		}
	}
	require.Positive(t, atLoss, "the leader %s was found and shut down", leader)
	killPublishRange(t, strings.Join(c.urls, ","), n/2, n)
	delivered, dups, dead := settleAll(t, js, sink, serve, n, 2*time.Minute)
	reportFault(t, faultRow{Fault: "R3 cluster loses its stream leader",
		Injection: "3 in-process servers, EXTSYNC_REPLICAS=3; the HMS_EVENTS leader shut down mid-stream",
		Published: n, Delivered: delivered, Duplicated: dups, DeadLettered: dead, Lost: n - delivered - dead,
		Note: fmt.Sprintf("leader %s lost after %d delivered; half the events published after", leader, atLoss)})
}

// TestFaultPartitionFromNATS cuts serve off from the NATS node it uses
// (a TCP proxy between them drops every connection and refuses new ones)
// while the cluster goes on taking events, then heals the link.
func TestFaultPartitionFromNATS(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	proxy := startTCPProxy(t, strings.TrimPrefix(c.urls[2], "nats://"))
	env, sink := clusterServe(t, []string{"nats://" + proxy.addr})
	serve := startServeOnly(t, env)
	_, js := jsClient(t, c.urls[0])

	const n = 3000
	killPublishRange(t, c.urls[0], 0, n/2)
	require.Eventually(t, func() bool { d, _, _ := sink.counts(); return d >= 200 }, time.Minute, 10*time.Millisecond)
	atCut, _, _ := sink.counts()
	proxy.cut()
	killPublishRange(t, c.urls[0], n/2, n) // the cluster takes the second half meanwhile
	stalled, _, _ := sink.counts()
	proxy.heal()
	delivered, dups, dead := settleAll(t, js, sink, serve, n, 3*time.Minute)
	reportFault(t, faultRow{Fault: "network partition: extsync cut off from its NATS node",
		Injection: "TCP proxy between serve and node 3 drops all connections while 1,500 events are published, then heals",
		Published: n, Delivered: delivered, Duplicated: dups, DeadLettered: dead, Lost: n - delivered - dead,
		Note: fmt.Sprintf("cut after %d delivered, %d when healed", atCut, stalled)})
}

// startServeOnly starts serve against an external NATS (no embedded
// server to wait for).
func startServeOnly(t *testing.T, env []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = env
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", log.String())
		}
	})
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// Creating every stream and bucket at three replicas takes a while on
	// a busy machine; serveReady waits for it generously.
	serveReady(t, env, cmd)
	return cmd
}

// tcpProxy forwards connections to a target until cut; while cut it
// drops every connection, as a network partition does.
type tcpProxy struct {
	addr   string
	target string
	l      net.Listener
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func startTCPProxy(t *testing.T, target string) *tcpProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{addr: l.Addr().String(), target: target, l: l, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { _ = l.Close(); p.cut() })
	go p.accept()
	return p
}

func (p *tcpProxy) accept() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.pipe(in)
	}
}

func (p *tcpProxy) pipe(in net.Conn) {
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	if down {
		_ = in.Close()
		return
	}
	out, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = in.Close()
		return
	}
	p.mu.Lock()
	p.conns[in], p.conns[out] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
	_, _ = io.Copy(in, out)
	_ = in.Close()
}

// cut drops every connection and refuses new ones.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) heal() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
