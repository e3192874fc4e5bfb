package test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/stretchr/testify/require"

	"github.com/hms/extsync/connectors"
	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
)

// These tests keep the deployment files (Dockerfile, docker-compose.yml,
// deploy/connectors.yaml) honest without a Docker engine: each file is read
// by the library its own tool uses, or by extsync's own validator.

// deployRoot is the repository root, where the deployment files live.
func deployRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	return root
}

// deployLoadCompose parses docker-compose.yml as `docker compose` does, with
// an empty environment so the result does not depend on the caller's shell.
func deployLoadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := deployRoot(t)
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}},
		Environment: types.Mapping{},
	})
	require.NoError(t, err, "docker-compose.yml does not load")
	return project
}

// deployService returns the named service, failing the test if it is missing.
func deployService(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	svc, ok := p.Services[name]
	require.Truef(t, ok, "docker-compose.yml has no service %q (has %v)", name, p.ServiceNames())
	return svc
}

// deployEnv returns a service's environment variable, failing if unset.
func deployEnv(t *testing.T, svc types.ServiceConfig, key string) string {
	t.Helper()
	v, ok := svc.Environment[key]
	require.Truef(t, ok && v != nil && *v != "", "service %s: environment %s is not set", svc.Name, key)
	return *v
}

// deployTargets lists the container ports a service publishes.
func deployTargets(svc types.ServiceConfig) []int {
	var out []int
	for _, p := range svc.Ports {
		out = append(out, int(p.Target))
	}
	return out
}

// deployRequireReaches checks that rawURL names service target by its
// compose name and one of the container ports it publishes.
func deployRequireReaches(t *testing.T, p *types.Project, rawURL, target string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	require.Equalf(t, target, u.Hostname(), "%s must reach the %s service by name", rawURL, target)
	port, err := strconv.Atoi(u.Port())
	require.NoErrorf(t, err, "%s has no port", rawURL)
	svc := deployService(t, p, target)
	require.Containsf(t, deployTargets(svc), port, "%s: service %s does not publish port %d", rawURL, target, port)
}

// deployNonRoot reports whether a Docker/compose user ("name", "uid",
// "uid:gid", "name:group") is someone other than root.
func deployNonRoot(user string) bool {
	name, group, _ := strings.Cut(user, ":")
	isRoot := func(s string) bool { return s == "root" || s == "0" }
	return name != "" && !isRoot(name) && !isRoot(group)
}

func TestDeployCompose(t *testing.T) {
	p := deployLoadCompose(t)
	for _, name := range []string{"nats", "jaeger", "court", "extsync"} {
		deployService(t, p, name)
	}

	nats := deployService(t, p, "nats")
	require.True(t, slices.Contains(nats.Command, "-js") || slices.Contains(nats.Command, "--jetstream"),
		"nats must run with JetStream (-js), command is %q", nats.Command)
	require.Contains(t, deployTargets(nats), 4222)

	jaeger := deployService(t, p, "jaeger")
	jt := deployTargets(jaeger)
	require.Contains(t, jt, 16686, "jaeger UI")
	require.True(t, slices.Contains(jt, 4317) || slices.Contains(jt, 4318), "jaeger must publish OTLP (4317 or 4318), has %v", jt)

	court := deployService(t, p, "court")
	require.Contains(t, deployTargets(court), 8081)
	require.NotNil(t, court.Build, "court is built from the Dockerfile")
	require.Equal(t, types.ShellCommand{"demo", "court", "--addr", "0.0.0.0:8081"}, court.Command)

	ext := deployService(t, p, "extsync")
	require.NotNil(t, ext.Build, "extsync is built from the Dockerfile")
	require.Equal(t, types.ShellCommand{"serve"}, ext.Command)
	require.Contains(t, deployTargets(ext), 8080, "admin API")
	for _, dep := range []string{"nats", "jaeger", "court"} {
		require.Containsf(t, ext.DependsOn, dep, "extsync must depend on %s", dep)
	}
	require.Truef(t, deployNonRoot(ext.User), "extsync must run as a non-root user, has %q", ext.User)
	require.Equal(t, "json", deployEnv(t, ext, "EXTSYNC_LOG_FORMAT"))
	require.Equal(t, "extsync", deployEnv(t, ext, "OTEL_SERVICE_NAME"))
	require.Equal(t, "none", deployEnv(t, ext, "OTEL_METRICS_EXPORTER"), "Jaeger rejects OTLP metrics")
	deployRequireReaches(t, p, deployEnv(t, ext, "EXTSYNC_NATS_URL"), "nats")
	deployRequireReaches(t, p, deployEnv(t, ext, "OTEL_EXPORTER_OTLP_ENDPOINT"), "jaeger")
	deployRequireReaches(t, p, deployEnv(t, ext, "COURT_URL"), "court")

	// The connectors file named by EXTSYNC_CONNECTORS is mounted read-only
	// from a file in the repository, and is valid with exactly the
	// environment the container gets.
	target := deployEnv(t, ext, "EXTSYNC_CONNECTORS")
	var source string
	for _, v := range ext.Volumes {
		if v.Target == target {
			require.Equal(t, types.VolumeTypeBind, v.Type, "%s must be a bind mount", target)
			require.True(t, v.ReadOnly, "%s must be mounted read-only", target)
			source = v.Source
		}
	}
	require.NotEmptyf(t, source, "extsync: nothing is mounted at EXTSYNC_CONNECTORS=%s", target)
	fi, err := os.Stat(source)
	require.NoError(t, err, "connectors file mount source")
	require.True(t, fi.Mode().IsRegular(), "%s is not a file", source)
	env := func(k string) (string, bool) {
		v, ok := ext.Environment[k]
		if !ok || v == nil {
			return "", false
		}
		return *v, true
	}
	file, err := config.LoadFile(source, env, deployCheck(catalog.Default()))
	require.NoError(t, err, "the mounted connectors file with extsync's compose environment")
	require.NotEmpty(t, file.Connectors)
}

// deployDockerfile is the parsed Dockerfile: its stages in order.
func deployDockerfile(t *testing.T) []instructions.Stage {
	t.Helper()
	f, err := os.Open(filepath.Join(deployRoot(t), "Dockerfile"))
	require.NoError(t, err)
	defer f.Close()
	res, err := parser.Parse(f)
	require.NoError(t, err, "Dockerfile does not parse")
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile line %d: %s", w.Location.Start.Line, w.Short)
	}
	var lint []string
	l := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		lint = append(lint, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, _, err := instructions.Parse(res.AST, l)
	require.NoError(t, err, "Dockerfile instructions")
	require.Empty(t, lint, "Dockerfile lint warnings")
	return stages
}

// deployFlag returns the word after flag in a command line, or "".
func deployFlag(words []string, flag string) string {
	for i, w := range words {
		if w == flag && i+1 < len(words) {
			return words[i+1]
		}
	}
	return ""
}

func TestDeployDockerfile(t *testing.T) {
	stages := deployDockerfile(t)
	require.GreaterOrEqual(t, len(stages), 2, "multi-stage: a build stage and a small final stage")
	final := stages[len(stages)-1]
	require.NotContains(t, final.BaseName, "golang", "the final image must not carry the Go toolchain")

	// The build: a static binary, built with CGO_ENABLED=0.
	var built, buildStage string
	for _, st := range stages[:len(stages)-1] {
		cgoOff := false
		for _, cmd := range st.Commands {
			switch c := cmd.(type) {
			case *instructions.EnvCommand:
				for _, kv := range c.Env {
					if kv.Key == "CGO_ENABLED" {
						cgoOff = kv.Value == "0"
					}
				}
			case *instructions.RunCommand:
				line := strings.Join(c.CmdLine, " ")
				if !strings.Contains(line, "go build") {
					continue
				}
				words := strings.Fields(line)
				require.Truef(t, cgoOff || slices.Contains(words, "CGO_ENABLED=0"),
					"the go build must run with CGO_ENABLED=0 for a static binary: %s", line)
				require.Contains(t, line, "./cmd/extsync")
				built, buildStage = deployFlag(words, "-o"), st.Name
			}
		}
	}
	require.NotEmpty(t, built, "no `go build ... -o BINARY ./cmd/extsync` in a build stage")

	var user, entry string
	var entryShell bool
	var copies []*instructions.CopyCommand
	var cmdLine []string
	var exposed []string
	env := map[string]string{}
	for _, cmd := range final.Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			user = c.User
		case *instructions.EntrypointCommand:
			entry, entryShell = strings.Join(c.CmdLine, " "), c.PrependShell
		case *instructions.CmdCommand:
			cmdLine = c.CmdLine
		case *instructions.ExposeCommand:
			for _, p := range c.Ports {
				exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
			}
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env[kv.Key] = kv.Value
			}
		case *instructions.CopyCommand:
			copies = append(copies, c)
		}
	}
	copied := slices.ContainsFunc(copies, func(c *instructions.CopyCommand) bool {
		return c.From == buildStage && slices.Contains(c.SourcePaths, built) && c.DestPath == entry
	})
	require.Truef(t, deployNonRoot(user), "the final stage must set a non-root USER, has %q", user)
	require.Equal(t, "/extsync", entry, "ENTRYPOINT is the binary")
	require.False(t, entryShell, "ENTRYPOINT in exec form, so signals reach extsync (distroless has no shell)")
	require.Truef(t, copied, "the final stage must COPY --from=%s %s %s", buildStage, built, entry)
	require.Equal(t, []string{"serve"}, cmdLine)
	require.Contains(t, exposed, "8080", "EXPOSE the admin API")
	require.Equal(t, "/data", env["EXTSYNC_DATA_DIR"])
	host, _, err := net.SplitHostPort(env["EXTSYNC_HTTP_ADDR"])
	require.NoError(t, err, "EXTSYNC_HTTP_ADDR")
	require.NotContains(t, []string{"127.0.0.1", "localhost", "::1"}, host,
		"in a container the admin API must listen beyond loopback, or EXPOSE 8080 is useless")
}

// deployCheck validates each connector's kind block by building the
// connector (no I/O) and closing it, as `extsync serve` does at start.
func deployCheck(reg *connectors.Kinds) config.Checker {
	return func(c *config.Connector) error {
		conn, err := reg.New(c.Kind, connectors.Spec{Name: c.Name, Concurrency: c.Concurrency, Decode: c.Decode})
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

func TestDeployConnectors(t *testing.T) {
	env := map[string]string{"COURT_URL": "http://court:8081", "COURT_TOKEN": "demo-court-token"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	path := filepath.Join(deployRoot(t), "deploy", "connectors.yaml")
	file, err := config.LoadFile(path, lookup, deployCheck(catalog.Default()))
	require.NoError(t, err)
	var names []string
	for _, c := range file.Connectors {
		names = append(names, c.Name)
	}
	require.ElementsMatch(t, []string{"court-schedule", "court-hearings"}, names, "the demo's two connectors")
}
