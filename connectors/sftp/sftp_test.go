package sftp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/hms/extsync/connectors"
	sftpconn "github.com/hms/extsync/connectors/sftp"
	"github.com/hms/extsync/pkg/config"
	"github.com/hms/extsync/pkg/event"
)

// build makes a connector from the lines of an sftp: block; ${PW} and
// ${PASSPHRASE} come from env.
func build(t *testing.T, block string, env map[string]string) (*sftpconn.Connector, error) {
	t.Helper()
	var doc strings.Builder
	doc.WriteString("connectors:\n  - name: drop\n    kind: sftp\n    subjects: [hms.workflow.updated]\n    sftp:\n")
	for line := range strings.SplitSeq(strings.TrimSpace(block), "\n") {
		doc.WriteString("      " + strings.TrimSpace(line) + "\n")
	}
	f, err := config.Parse("connectors.yaml", []byte(doc.String()), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}, nil)
	if err != nil {
		return nil, err
	}
	c, err := sftpconn.Factory{}.New(connectors.Spec{Name: "drop", Concurrency: 4, Decode: f.Connectors[0].Decode})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*sftpconn.Connector), nil
}

// passwordBlock is a block for s with password auth and its host key.
func passwordBlock(t *testing.T, s *server, extra string) string {
	return fmt.Sprintf("addr: %s\nuser: clerk\npassword: ${PW}\nknown_hosts: %s\ndir: /incoming\ntimeout: 5s\n%s",
		s.addr, knownHosts(t, s.addr, s.hostKey.PublicKey()), extra)
}

func mustBuild(t *testing.T, s *server, extra string) *sftpconn.Connector {
	t.Helper()
	c, err := build(t, passwordBlock(t, s, extra), map[string]string{"PW": s.password})
	require.NoError(t, err)
	return c
}

func delivery(id string, seq uint64, body map[string]any) *connectors.Delivery {
	return &connectors.Delivery{
		Event: &event.Event{ID: id, Seq: seq, Stream: "HMS_EVENTS", Subject: "hms.workflow.updated", Data: body},
		Body:  body, Attempt: 1,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestDeliverWritesOneJSONLinesFileNamedByTemplate(t *testing.T) {
	s := newServer(t)
	c := mustBuild(t, s, "")
	body := map[string]any{"case_reference": "H-1", "judge": map[string]any{"name": "Okafor"}, "slots": []any{1.0, 2.0}}
	require.NoError(t, c.Deliver(ctx(t), delivery("evt-1", 42, body)))

	files := s.files(t, "/incoming")
	require.Len(t, files, 1)
	for name, content := range files {
		require.Regexp(t, `^drop-\d{8}T\d{6}\.\d{9}Z-42\.jsonl$`, name)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(content), &got))
		require.Equal(t, body, got, "nested objects and arrays intact")
		require.True(t, strings.HasSuffix(content, "\n"))
	}
}

func TestPartialFileIsNeverVisible(t *testing.T) {
	s := newServer(t)
	c := mustBuild(t, s, "filename: hearing-{id}.jsonl")
	require.NoError(t, c.Deliver(ctx(t), delivery("H-7", 1, map[string]any{"id": "H-7"})))

	ops := s.operations()
	final := "/incoming/hearing-H-7.jsonl"
	var wrote, renamed string
	for _, op := range ops {
		f := strings.Fields(op)
		switch f[0] {
		case "write":
			require.NotEqual(t, final, f[1], "the final name is never opened for writing: %v", ops)
			wrote = f[1]
		case "posixrename", "rename":
			require.Equal(t, wrote, f[1], "the file written is the one renamed: %v", ops)
			renamed = f[2]
		}
	}
	require.Equal(t, final, renamed, "the file appears under its name only by a rename: %v", ops)
	require.True(t, strings.HasPrefix(wrote, "/incoming/."), "uploads in progress are hidden: %s", wrote)
	require.Equal(t, []string{"hearing-H-7.jsonl"}, s.names(t, "/incoming"))
}

func TestFailedRenameLeavesNoTemporaryFileAndIsTransient(t *testing.T) {
	s := newServer(t)
	c := mustBuild(t, s, "")
	failure := error(sftp.ErrSSHFxFailure)
	s.failRename.Store(&failure)
	err := c.Deliver(ctx(t), delivery("evt-1", 1, map[string]any{"id": "x"}))
	require.ErrorIs(t, err, connectors.ErrTransient, "a generic server failure (disk full...) is retried: %v", err)
	require.Empty(t, s.names(t, "/incoming"), "the temporary upload is removed")

	s.failRename.Store(nil)
	require.NoError(t, c.Deliver(ctx(t), delivery("evt-1", 1, map[string]any{"id": "x"})), "the session is still usable")
	require.Len(t, s.names(t, "/incoming"), 1)
}

func TestPermissionDeniedAndMissingDirAreTemporaryNot(t *testing.T) {
	s := newServer(t)
	c := mustBuild(t, s, "")
	denied := error(sftp.ErrSSHFxPermissionDenied)
	s.failWrite.Store(&denied)
	err := c.Deliver(ctx(t), delivery("evt-1", 1, map[string]any{"id": "x"}))
	require.ErrorIs(t, err, connectors.ErrPermanent, "%v", err)
	s.failWrite.Store(nil)

	missing, err := build(t, strings.Replace(passwordBlock(t, s, ""), "dir: /incoming", "dir: /nowhere", 1),
		map[string]string{"PW": s.password})
	require.NoError(t, err)
	err = missing.Deliver(ctx(t), delivery("evt-2", 2, map[string]any{"id": "y"}))
	require.ErrorIs(t, err, connectors.ErrPermanent, "a directory that does not exist needs a person: %v", err)
}

func TestCSVColumnsInConfiguredOrder(t *testing.T) {
	s := newServer(t)
	c := mustBuild(t, s, "format: csv\ncolumns: [case_reference, judge.name, slots, note, missing]")
	ds := []*connectors.Delivery{
		delivery("e1", 10, map[string]any{"case_reference": "H-1", "judge": map[string]any{"name": "Okafor"},
			"slots": []any{1.0, 2.0}, "note": "room 4B, \"east\""}),
		delivery("e2", 11, map[string]any{"case_reference": "H-2", "judge": map[string]any{"name": "Lind"}, "note": 7.5}),
	}
	require.NoError(t, c.DeliverBatch(ctx(t), ds))
	files := s.files(t, "/incoming")
	require.Len(t, files, 1, "a batch is one file")
	for name, content := range files {
		require.True(t, strings.HasSuffix(name, "-10.csv"), "named after the batch's first event: %s", name)
		require.Equal(t, "case_reference,judge.name,slots,note,missing\n"+
			"H-1,Okafor,\"[1,2]\",\"room 4B, \"\"east\"\"\",\n"+
			"H-2,Lind,,7.5,\n", content)
	}
}

func TestBatchIsOneJSONLinesFileInOrder(t *testing.T) {
	s := newServer(t)
	c := mustBuild(t, s, "")
	var ds []*connectors.Delivery
	for i := range 100 {
		ds = append(ds, delivery(fmt.Sprintf("e%d", i), uint64(100+i), map[string]any{"n": float64(i)}))
	}
	require.NoError(t, c.DeliverBatch(ctx(t), ds))
	files := s.files(t, "/incoming")
	require.Len(t, files, 1)
	for _, content := range files {
		lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
		require.Len(t, lines, 100)
		for i, l := range lines {
			require.JSONEq(t, fmt.Sprintf(`{"n":%d}`, i), l)
		}
	}
}

func TestKeyAuthWithPassphrase(t *testing.T) {
	s := newServer(t)
	key := s.userKeyFile(t, "key-pass")
	block := fmt.Sprintf("addr: %s\nuser: clerk\nprivate_key: %s\npassphrase: ${PASSPHRASE}\nknown_hosts: %s\ndir: /incoming",
		s.addr, key, knownHosts(t, s.addr, s.hostKey.PublicKey()))
	c, err := build(t, block, map[string]string{"PASSPHRASE": "key-pass"})
	require.NoError(t, err)
	require.NoError(t, c.Deliver(ctx(t), delivery("e1", 1, map[string]any{"id": "k"})))
	require.Len(t, s.names(t, "/incoming"), 1)

	_, err = build(t, strings.Replace(block, "passphrase: ${PASSPHRASE}\n", "", 1), nil)
	require.ErrorContains(t, err, "is encrypted: set sftp.passphrase")
}

func TestWrongHostKeyIsRefusedAndNothingWritten(t *testing.T) {
	s := newServer(t)
	imposter := newSigner(t).PublicKey()
	block := fmt.Sprintf("addr: %s\nuser: clerk\npassword: ${PW}\nknown_hosts: %s\ndir: /incoming",
		s.addr, knownHosts(t, s.addr, imposter))
	c, err := build(t, block, map[string]string{"PW": s.password})
	require.NoError(t, err)
	err = c.Deliver(ctx(t), delivery("e1", 1, map[string]any{"id": "x"}))
	require.ErrorIs(t, err, connectors.ErrPermanent, "a changed host key needs a person: %v", err)
	require.Empty(t, s.names(t, "/incoming"))
	require.NotContains(t, err.Error(), s.password)
}

func TestWrongPasswordIsPermanentAndNotShown(t *testing.T) {
	s := newServer(t)
	c, err := build(t, passwordBlock(t, s, ""), map[string]string{"PW": "not-the-password"})
	require.NoError(t, err)
	err = c.Deliver(ctx(t), delivery("e1", 1, map[string]any{"id": "x"}))
	require.ErrorIs(t, err, connectors.ErrPermanent, "%v", err)
	require.NotContains(t, err.Error(), "not-the-password")
}

func TestUnreachableServerIsTransient(t *testing.T) {
	s := newServer(t)
	c, err := build(t, strings.Replace(passwordBlock(t, s, ""), s.addr, closedAddr(t), 1),
		map[string]string{"PW": s.password})
	require.NoError(t, err)
	err = c.Deliver(ctx(t), delivery("e1", 1, map[string]any{"id": "x"}))
	require.ErrorIs(t, err, connectors.ErrTransient, "%v", err)
}

func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// A reader scanning the directory while each upload is half stored (the
// server pauses every upload after its first chunk until the reader has
// looked) only ever finds complete files, hidden uploads aside.
func TestReaderNeverSeesAPartialFile(t *testing.T) {
	s := newServer(t)
	c := mustBuild(t, s, "")
	const files, lines = 5, 2000
	var batch []*connectors.Delivery
	for i := range lines {
		batch = append(batch, delivery(fmt.Sprintf("e%d", i), uint64(i+1),
			map[string]any{"n": float64(i), "pad": strings.Repeat("x", 40)}))
	}
	reader := s.client(t)
	seen := map[string]int{} // visible name → lines, at every look
	scans := 0
	var lookErr error // look runs on the server's goroutine: no require there
	look := func() {
		scans++
		infos, err := reader.ReadDir("/incoming")
		if err != nil {
			lookErr = err
			return
		}
		for _, fi := range infos {
			if strings.HasPrefix(fi.Name(), ".") {
				continue
			}
			f, err := reader.Open("/incoming/" + fi.Name())
			if err != nil {
				lookErr = err
				return
			}
			b, err := io.ReadAll(f)
			_ = f.Close()
			if err != nil {
				lookErr = err
				return
			}
			seen[fi.Name()] = strings.Count(string(b), "\n")
		}
	}
	s.midWrite.Store(&look)
	for i := range files {
		batch[0].Event.Seq = uint64(1000 * (i + 1)) // one name per file
		require.NoError(t, c.DeliverBatch(ctx(t), batch))
	}
	s.midWrite.Store(nil)
	require.NoError(t, lookErr)
	require.Equal(t, files, scans, "the reader looked during every upload")
	require.Len(t, seen, files-1, "each earlier file was visible during a later upload")
	for name, n := range seen {
		require.Equal(t, lines, n, "%s was visible with %d of %d lines", name, n, lines)
	}
	require.Len(t, s.names(t, "/incoming"), files)
}

// TestWrongHostKeyNamesThePresentedKey: the refusal says which key the
// server presented, its type and SHA256 fingerprint, and which one the
// known_hosts file pins, as ssh does, so a person can check it.
func TestWrongHostKeyNamesThePresentedKey(t *testing.T) {
	s := newServer(t)
	imposter := newSigner(t).PublicKey()
	kh := knownHosts(t, s.addr, imposter)
	block := fmt.Sprintf("addr: %s\nuser: clerk\npassword: ${PW}\nknown_hosts: %s\ndir: /incoming", s.addr, kh)
	c, err := build(t, block, map[string]string{"PW": s.password})
	require.NoError(t, err)
	err = c.Deliver(ctx(t), delivery("e1", 1, map[string]any{"id": "x"}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	presented := s.hostKey.PublicKey()
	require.ErrorContains(t, err, presented.Type()+" key "+ssh.FingerprintSHA256(presented))
	require.ErrorContains(t, err, ssh.FingerprintSHA256(imposter))
	require.ErrorContains(t, err, kh+":1")

	// A server the file does not know at all.
	other := knownHosts(t, "127.0.0.1:1", presented)
	block = fmt.Sprintf("addr: %s\nuser: clerk\npassword: ${PW}\nknown_hosts: %s\ndir: /incoming", s.addr, other)
	c, err = build(t, block, map[string]string{"PW": s.password})
	require.NoError(t, err)
	err = c.Deliver(ctx(t), delivery("e2", 1, map[string]any{"id": "y"}))
	require.ErrorIs(t, err, connectors.ErrPermanent)
	require.ErrorContains(t, err, "is not in "+other)
	require.ErrorContains(t, err, presented.Type()+" key "+ssh.FingerprintSHA256(presented))
}
