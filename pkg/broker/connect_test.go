package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/pkg/broker"
)

// runServer starts an in-process nats-server with opts completed for a
// test: random port, temporary store, quiet.
func runServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host = "127.0.0.1"
	opts.Port = -1
	opts.NoLog = true
	opts.NoSigs = true
	if opts.JetStream {
		opts.StoreDir = t.TempDir()
	}
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	require.True(t, s.ReadyForConnections(10*time.Second), "server not ready")
	return s
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// requireWorks checks that nc talks to the server: a request round trip.
func requireWorks(t *testing.T, nc *nats.Conn) {
	t.Helper()
	sub, err := nc.Subscribe("ping", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	resp, err := nc.Request("ping", nil, 5*time.Second)
	require.NoError(t, err)
	require.Equal(t, "pong", string(resp.Data))
}

func TestConnectUserPassword(t *testing.T) {
	const password = "s3cr3t-Pa55w0rd"
	s := runServer(t, &server.Options{Username: "extsync", Password: password})

	nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{User: "extsync", Password: password})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	require.True(t, nc.IsConnected())
	require.Equal(t, "test", nc.Opts.Name)
	requireWorks(t, nc)

	t.Run("wrong password", func(t *testing.T) {
		const wrong = "not-the-Pa55w0rd"
		nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{User: "extsync", Password: wrong})
		require.Error(t, err)
		require.Nil(t, nc)
		require.ErrorIs(t, err, nats.ErrAuthorization)
		require.NotContains(t, err.Error(), wrong)
		require.NotContains(t, err.Error(), password)
	})

	t.Run("no credentials", func(t *testing.T) {
		_, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{})
		require.Error(t, err)
	})

	t.Run("credentials in the URL are redacted from errors", func(t *testing.T) {
		const wrong = "wrongUrlPa55"
		port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
		_, err := broker.Connect(testCtx(t), "nats://extsync:"+wrong+"@127.0.0.1:"+port, "test", broker.Auth{})
		require.Error(t, err)
		require.NotContains(t, err.Error(), wrong)
		require.Contains(t, err.Error(), "127.0.0.1:"+port)
	})

	t.Run("credentials in a URL without scheme connect", func(t *testing.T) {
		// nats.go prepends nats:// to a URL with no scheme.
		port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
		nc, err := broker.Connect(testCtx(t), "extsync:"+password+"@127.0.0.1:"+port, "test", broker.Auth{})
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		requireWorks(t, nc)
	})

	t.Run("credentials in a URL without scheme are redacted from errors", func(t *testing.T) {
		const wrong = "wrongNoSchemePa55"
		port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
		_, err := broker.Connect(testCtx(t), "extsync:"+wrong+"@127.0.0.1:"+port, "test", broker.Auth{})
		require.Error(t, err)
		require.NotContains(t, err.Error(), wrong)
	})

	t.Run("unparsable URL with a password is redacted from errors", func(t *testing.T) {
		// A password with an unescaped '/' or '#' makes the URL unparsable;
		// the error must still not echo it.
		for _, pw := range []string{"bad/Pa55", "bad#Pa55"} {
			port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
			_, err := broker.Connect(testCtx(t), "nats://extsync:"+pw+"@127.0.0.1:"+port, "test", broker.Auth{})
			require.Error(t, err)
			require.NotContains(t, err.Error(), "Pa55", "password %q", pw)
		}
	})

	t.Run("credentials in the URL connect", func(t *testing.T) {
		port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
		nc, err := broker.Connect(testCtx(t), "nats://extsync:"+password+"@127.0.0.1:"+port, "test", broker.Auth{})
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		requireWorks(t, nc)
	})
}

func TestConnectToken(t *testing.T) {
	const token = "tok-0123456789abcdef"
	s := runServer(t, &server.Options{Authorization: token})

	nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{Token: token})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	requireWorks(t, nc)

	_, err = broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{Token: "tok-wrong-secret"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "tok-wrong-secret")
	require.NotContains(t, err.Error(), token)
}

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1 and a client certificate, all written as PEM files.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	// OtherCA is a second CA that signed nothing here.
	OtherCA string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		require.NoError(t, err)
		return der
	}
	serial := int64(1)
	template := func(cn string) *x509.Certificate {
		serial++
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
		}
	}
	newCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		tmpl := template(cn)
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
		require.NoError(t, err)
		c, err := x509.ParseCertificate(der)
		require.NoError(t, err)
		return c, k, der
	}

	caCert, caKey, caDER := newCA("extsync test CA")
	_, _, otherDER := newCA("some other CA")

	srvKey := newKey()
	srvTmpl := template("127.0.0.1")
	srvTmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	srvTmpl.KeyUsage = x509.KeyUsageDigitalSignature
	srvTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	require.NoError(t, err)

	cliKey := newKey()
	cliTmpl := template("extsync-client")
	cliTmpl.KeyUsage = x509.KeyUsageDigitalSignature
	cliTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, caCert, &cliKey.PublicKey, caKey)
	require.NoError(t, err)

	return pki{
		CA:         writePEM("ca.pem", "CERTIFICATE", caDER),
		OtherCA:    writePEM("other-ca.pem", "CERTIFICATE", otherDER),
		ServerCert: writePEM("server.pem", "CERTIFICATE", srvDER),
		ServerKey:  writePEM("server-key.pem", "PRIVATE KEY", keyDER(srvKey)),
		ClientCert: writePEM("client.pem", "CERTIFICATE", cliDER),
		ClientKey:  writePEM("client-key.pem", "PRIVATE KEY", keyDER(cliKey)),
	}
}

func TestConnectMutualTLS(t *testing.T) {
	p := newPKI(t)
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: p.ServerCert, KeyFile: p.ServerKey, CaFile: p.CA, Verify: true,
	})
	require.NoError(t, err)
	s := runServer(t, &server.Options{TLS: true, TLSConfig: tc, TLSVerify: true, TLSTimeout: 5})

	t.Run("client certificate and CA", func(t *testing.T) {
		nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{
			TLSCert: p.ClientCert, TLSKey: p.ClientKey, CA: p.CA,
		})
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		_, err = nc.TLSConnectionState()
		require.NoError(t, err, "connection must be TLS")
		requireWorks(t, nc)
	})

	t.Run("tls:// URL", func(t *testing.T) {
		url := "tls://127.0.0.1:" + strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
		nc, err := broker.Connect(testCtx(t), url, "test", broker.Auth{
			TLSCert: p.ClientCert, TLSKey: p.ClientKey, CA: p.CA,
		})
		require.NoError(t, err)
		t.Cleanup(nc.Close)
		requireWorks(t, nc)
	})

	t.Run("no client certificate", func(t *testing.T) {
		nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{CA: p.CA})
		if nc != nil {
			nc.Close()
		}
		require.Error(t, err)
	})

	t.Run("server not signed by the trusted CA", func(t *testing.T) {
		_, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{
			TLSCert: p.ClientCert, TLSKey: p.ClientKey, CA: p.OtherCA,
		})
		require.Error(t, err)
	})

	t.Run("missing certificate file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "nope.pem")
		_, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{
			TLSCert: missing, TLSKey: p.ClientKey, CA: p.CA,
		})
		require.Error(t, err)
	})
}

func TestConnectNKey(t *testing.T) {
	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	pub, err := user.PublicKey()
	require.NoError(t, err)
	seed, err := user.Seed()
	require.NoError(t, err)

	s := runServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})

	seedFile := filepath.Join(t.TempDir(), "user.nk")
	require.NoError(t, os.WriteFile(seedFile, append(seed, '\n'), 0o600))

	nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{NKeyFile: seedFile})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	requireWorks(t, nc)

	t.Run("unknown nkey", func(t *testing.T) {
		other, err := nkeys.CreateUser()
		require.NoError(t, err)
		otherSeed, err := other.Seed()
		require.NoError(t, err)
		f := filepath.Join(t.TempDir(), "other.nk")
		require.NoError(t, os.WriteFile(f, otherSeed, 0o600))
		_, err = broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{NKeyFile: f})
		require.Error(t, err)
		require.NotContains(t, err.Error(), string(otherSeed))
	})

	t.Run("missing seed file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "missing.nk")
		_, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{NKeyFile: f})
		require.Error(t, err)
		require.Contains(t, err.Error(), f)
	})
}

// TestConnectCredsFile runs decentralised (operator/JWT) auth: an operator
// trusts an account, whose signing key issued the user in the creds file.
func TestConnectCredsFile(t *testing.T) {
	operator, err := nkeys.CreateOperator()
	require.NoError(t, err)
	opub, err := operator.PublicKey()
	require.NoError(t, err)
	oc := jwt.NewOperatorClaims(opub)
	oc.Name = "test-operator"
	_, err = oc.Encode(operator)
	require.NoError(t, err)

	account, err := nkeys.CreateAccount()
	require.NoError(t, err)
	apub, err := account.PublicKey()
	require.NoError(t, err)
	ac := jwt.NewAccountClaims(apub)
	ac.Name = "HMS"
	accountJWT, err := ac.Encode(operator)
	require.NoError(t, err)

	user, err := nkeys.CreateUser()
	require.NoError(t, err)
	upub, err := user.PublicKey()
	require.NoError(t, err)
	useed, err := user.Seed()
	require.NoError(t, err)
	uc := jwt.NewUserClaims(upub)
	uc.Name = "extsync"
	userJWT, err := uc.Encode(account)
	require.NoError(t, err)
	creds, err := jwt.FormatUserConfig(userJWT, useed)
	require.NoError(t, err)
	credsFile := filepath.Join(t.TempDir(), "extsync.creds")
	require.NoError(t, os.WriteFile(credsFile, creds, 0o600))

	resolver := &server.MemAccResolver{}
	require.NoError(t, resolver.Store(apub, accountJWT))
	s := runServer(t, &server.Options{
		TrustedOperators: []*jwt.OperatorClaims{oc},
		AccountResolver:  resolver,
	})

	nc, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{CredsFile: credsFile})
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	requireWorks(t, nc)

	t.Run("no creds", func(t *testing.T) {
		_, err := broker.Connect(testCtx(t), s.ClientURL(), "test", broker.Auth{})
		require.Error(t, err)
	})
}

// closedPort returns a loopback port nothing listens on any more.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	require.NoError(t, l.Close())
	return port
}

func TestConnectUnreachableRedactsURL(t *testing.T) {
	url := "nats://extsync:hunter2-secret@127.0.0.1:" + closedPort(t)

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		nc, err := broker.Connect(ctx, url, "test", broker.Auth{})
		require.Error(t, err)
		require.Nil(t, nc)
		require.Contains(t, err.Error(), broker.Redact(url))
		require.Contains(t, err.Error(), "127.0.0.1")
		require.NotContains(t, err.Error(), "hunter2-secret")
	})

	t.Run("refused", func(t *testing.T) {
		_, err := broker.Connect(testCtx(t), url, "test", broker.Auth{})
		require.Error(t, err)
		require.Contains(t, err.Error(), broker.Redact(url))
		require.NotContains(t, err.Error(), "hunter2-secret")
	})
}

// silentListener accepts connections and then says nothing, so a NATS
// handshake with it hangs until something ends it. Accepted connections are
// sent on the returned channel.
func silentListener(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	conns := make(chan net.Conn, 16)
	var held []net.Conn
	heldCh := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			heldCh <- c
			conns <- c
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		for {
			select {
			case c := <-heldCh:
				held = append(held, c)
			default:
				for _, c := range held {
					_ = c.Close()
				}
				return
			}
		}
	})
	return l.Addr().String(), conns
}

func TestConnectDeadlineWhileHandshaking(t *testing.T) {
	addr, _ := silentListener(t)
	url := "nats://u:silent-secret@" + addr

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	nc, err := broker.Connect(ctx, url, "test", broker.Auth{})
	require.Error(t, err)
	require.Nil(t, nc)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second, "Connect must return when the context ends")
	require.NotContains(t, err.Error(), "silent-secret")
	require.Contains(t, err.Error(), broker.Redact(url))
}

func TestConnectCancelWhileHandshaking(t *testing.T) {
	addr, conns := silentListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := broker.Connect(ctx, "nats://"+addr, "test", broker.Auth{})
		done <- err
	}()
	// The handshake is under way once the listener has accepted the dial.
	select {
	case <-conns:
	case <-time.After(10 * time.Second):
		t.Fatal("Connect never dialled")
	}
	cancel()
	select {
	case err := <-done:
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	case <-time.After(3 * time.Second):
		t.Fatal("Connect did not return after cancel")
	}
}

func TestRedact(t *testing.T) {
	got := broker.Redact("nats://u:p@h:4222,nats://h2:4222")
	require.NotContains(t, got, ":p@")
	require.NotContains(t, strings.ReplaceAll(got, "redacted", ""), "p@")
	require.Contains(t, got, "h:4222")
	require.Contains(t, got, "nats://h2:4222")
	require.Len(t, strings.Split(got, ","), 2)

	for _, tc := range []struct{ in, secret string }{
		{"nats://user:pa55word@host:4222", "pa55word"},
		{"nats://s3cr3t-token@host:4222", "s3cr3t-token"},
		{"tls://a:b1gsecret@h1:4222, tls://c:d1fferent@h2:4222", "1gsecret"},
		{"tls://a:b1gsecret@h1:4222, tls://c:d1fferent@h2:4222", "d1fferent"},
		{"nats://user:p%40ss@host:4222", "p%40ss"},
	} {
		got := broker.Redact(tc.in)
		require.NotContains(t, got, tc.secret, "Redact(%q) = %q", tc.in, got)
	}
	require.Equal(t, "nats://h:4222", broker.Redact("nats://h:4222"))
	t.Logf("Redact(nats://u:p@h:4222) = %s", broker.Redact("nats://u:p@h:4222"))
}

// TestRedactURLWithoutScheme: nats.go accepts "user:pass@host:port" with no
// scheme (it prepends nats://), so Redact must hide that password too.
func TestRedactURLWithoutScheme(t *testing.T) {
	got := broker.Redact("user:pa55word@host:4222")
	require.NotContains(t, got, "pa55word", "Redact left the password in %q", got)
}
