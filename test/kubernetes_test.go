package test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/hms/extsync/connectors/catalog"
	"github.com/hms/extsync/pkg/config"
)

// scaledObject is the part of KEDA's keda.sh/v1alpha1 ScaledObject these
// manifests use; decoding strictly into it catches misspelt fields.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount *int32 `json:"minReplicaCount"`
		MaxReplicaCount *int32 `json:"maxReplicaCount"`
		PollingInterval *int32 `json:"pollingInterval"`
		CooldownPeriod  *int32 `json:"cooldownPeriod"`
		Fallback        *struct {
			FailureThreshold int32 `json:"failureThreshold"`
			Replicas         int32 `json:"replicas"`
		} `json:"fallback"`
		Triggers []struct {
			Type       string            `json:"type"`
			MetricType string            `json:"metricType"`
			Metadata   map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor
// these manifests use.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// k8sObjects is a rendered set of manifests, each decoded strictly into
// its type.
type k8sObjects struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	scaled     *scaledObject
	monitor    *serviceMonitor
	count      int
}

// k8sDecode decodes one object strictly (unknown fields are errors) by
// its apiVersion and kind.
func k8sDecode(t *testing.T, objs *k8sObjects, doc []byte) {
	t.Helper()
	var tm metav1.TypeMeta
	require.NoError(t, yaml.Unmarshal(doc, &tm))
	into := map[string]any{}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		objs.deployment = &appsv1.Deployment{}
		into["x"] = objs.deployment
	case "v1 Service":
		objs.service = &corev1.Service{}
		into["x"] = objs.service
	case "v1 ServiceAccount":
		into["x"] = &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		objs.configMap = &corev1.ConfigMap{}
		into["x"] = objs.configMap
	case "policy/v1 PodDisruptionBudget":
		objs.pdb = &policyv1.PodDisruptionBudget{}
		into["x"] = objs.pdb
	case "autoscaling/v2 HorizontalPodAutoscaler":
		objs.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
		into["x"] = objs.hpa
	case "keda.sh/v1alpha1 ScaledObject":
		objs.scaled = &scaledObject{}
		into["x"] = objs.scaled
	case "monitoring.coreos.com/v1 ServiceMonitor":
		objs.monitor = &serviceMonitor{}
		into["x"] = objs.monitor
	default:
		t.Fatalf("unexpected object %s %s:\n%s", tm.APIVersion, tm.Kind, doc)
	}
	require.NoError(t, yaml.UnmarshalStrict(doc, into["x"]), "%s %s", tm.APIVersion, tm.Kind)
	objs.count++
}

// k8sRender builds a kustomization in-process, as `kubectl apply -k` does.
func k8sRender(t *testing.T, dir string) *k8sObjects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(deployRoot(t), "deploy", "kubernetes", dir))
	require.NoError(t, err, dir)
	objs := &k8sObjects{}
	for _, r := range res.Resources() {
		doc, err := r.AsYAML()
		require.NoError(t, err)
		k8sDecode(t, objs, doc)
	}
	return objs
}

// k8sSettings are the settings `extsync --help` lists (config.Usage,
// from the envconfig tags of config.Settings), with their defaults.
func k8sSettings(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for f := range rt.Fields() {
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if key := f.Tag.Get("envconfig"); key != "" {
				out[config.Prefix+"_"+key] = f.Tag.Get("default")
			}
		}
	}
	walk(reflect.TypeFor[config.Settings]())
	usage := config.Usage()
	for name := range out {
		require.Contains(t, usage, name, "--help lists %s", name)
	}
	require.Contains(t, out, "EXTSYNC_HTTP_ADDR")
	return out
}

// TestKubernetesManifests renders the base and the production overlay and
// checks them against the binary: strict types, image, ports, probes,
// security, shutdown timing, autoscaling, and every setting accounted for.
func TestKubernetesManifests(t *testing.T) {
	settings := k8sSettings(t)
	for _, dir := range []string{"base", "overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			objs := k8sRender(t, dir)
			require.NotNil(t, objs.deployment)
			require.NotNil(t, objs.service)
			require.NotNil(t, objs.configMap)
			require.NotNil(t, objs.pdb)
			require.NotNil(t, objs.monitor)
			require.NotNil(t, objs.scaled)
			require.Nil(t, objs.hpa, "KEDA owns the HPA; a second one would fight it")
			k8sCheck(t, objs, settings)
			if dir == "overlays/production" {
				require.Equal(t, "hms", objs.deployment.Namespace)
				c := objs.deployment.Spec.Template.Spec.Containers[0]
				require.Equal(t, "ghcr.io/hms/extsync:1.0.0", c.Image, "a pinned tag")
			}
		})
	}
	t.Run("without KEDA", func(t *testing.T) {
		objs := k8sRender(t, "overlays/no-keda")
		require.Nil(t, objs.scaled)
		require.NotNil(t, objs.hpa)
		require.Equal(t, objs.deployment.Name, objs.hpa.Spec.ScaleTargetRef.Name)
		require.Equal(t, "Deployment", objs.hpa.Spec.ScaleTargetRef.Kind)
	})
}

func k8sCheck(t *testing.T, objs *k8sObjects, settings map[string]string) {
	t.Helper()
	d := objs.deployment
	pod := d.Spec.Template.Spec
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	require.True(t, strings.HasPrefix(c.Image, "ghcr.io/hms/extsync:"), c.Image)
	require.Equal(t, []string{"serve"}, c.Args, "the Dockerfile's entrypoint is /extsync")

	// Security: non-root as the image's nonroot user, nothing writable
	// but the volumes, no capabilities.
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	require.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.EqualValues(t, 65532, *pod.SecurityContext.RunAsUser)
	require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	require.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	require.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	require.False(t, *pod.AutomountServiceAccountToken)

	// Env: every name is a setting, and every setting is set here or
	// listed in settings-not-set.txt with a reason.
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if strings.HasPrefix(e.Name, "EXTSYNC_") {
			require.Contains(t, settings, e.Name, "%s is not a setting of extsync --help", e.Name)
		}
	}
	notSet := k8sNotSet(t)
	for name := range settings {
		_, inEnv := env[name]
		_, listed := notSet[name]
		require.True(t, inEnv != listed, "%s: set it in deployment.yaml or list it in settings-not-set.txt (exactly one)", name)
	}
	for name := range notSet {
		require.Contains(t, settings, name, "settings-not-set.txt names %s, which is not a setting", name)
	}

	// The admin port: the one in EXTSYNC_HTTP_ADDR, the default's port.
	_, defPort, err := net.SplitHostPort(settings["EXTSYNC_HTTP_ADDR"])
	require.NoError(t, err)
	_, port, err := net.SplitHostPort(env["EXTSYNC_HTTP_ADDR"])
	require.NoError(t, err)
	require.Equal(t, defPort, port)
	require.Len(t, c.Ports, 1)
	require.Equal(t, port, strconv.Itoa(int(c.Ports[0].ContainerPort)))
	require.Equal(t, "admin", c.Ports[0].Name)
	require.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		require.Equal(t, "admin", p.HTTPGet.Port.String())
	}
	require.Equal(t, "admin", objs.service.Spec.Ports[0].TargetPort.String())
	require.Equal(t, objs.service.Spec.Ports[0].Name, objs.monitor.Spec.Endpoints[0].Port)
	require.Equal(t, "/metrics", objs.monitor.Spec.Endpoints[0].Path)

	// Labels line up: Service, PDB and ServiceMonitor select the pods.
	podLabels := d.Spec.Template.Labels
	for what, sel := range map[string]map[string]string{
		"Service": objs.service.Spec.Selector, "PodDisruptionBudget": objs.pdb.Spec.Selector.MatchLabels,
		"Deployment": d.Spec.Selector.MatchLabels,
	} {
		for k, v := range sel {
			require.Equal(t, v, podLabels[k], "%s selects %s=%s", what, k, v)
		}
	}
	for k, v := range objs.monitor.Spec.Selector.MatchLabels {
		require.Equal(t, v, objs.service.Labels[k], "the ServiceMonitor selects the Service")
	}

	// Shutdown: preStop, then up to EXTSYNC_SHUTDOWN_TIMEOUT, within the
	// grace period.
	drain, err := time.ParseDuration(env["EXTSYNC_SHUTDOWN_TIMEOUT"])
	require.NoError(t, err)
	require.NotNil(t, c.Lifecycle.PreStop.Sleep)
	budget := drain + time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second
	require.Greater(t, time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second, budget)

	// Resources: requested and bounded.
	require.False(t, c.Resources.Requests.Memory().IsZero())
	require.False(t, c.Resources.Requests.Cpu().IsZero())
	require.False(t, c.Resources.Limits.Memory().IsZero())

	// Files: every *_FILE and directory setting points into a mount, the
	// connectors file into the ConfigMap's.
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m
	}
	inMount := func(path string) corev1.VolumeMount {
		for _, m := range c.VolumeMounts {
			if path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/") {
				return m
			}
		}
		t.Fatalf("%s is in no volume mount", path)
		return corev1.VolumeMount{}
	}
	for _, name := range []string{"EXTSYNC_ADMIN_TOKEN_FILE", "EXTSYNC_NATS_PASSWORD_FILE", "EXTSYNC_CONNECTORS", "EXTSYNC_CONFIG_DIR", "EXTSYNC_SECRETS_DIR"} {
		require.NotEmpty(t, env[name], name)
		inMount(env[name])
	}
	require.NotEqual(t, inMount(env["EXTSYNC_ADMIN_TOKEN_FILE"]).Name, inMount(env["EXTSYNC_SECRETS_DIR"]).Name,
		"the process's secrets are not in the directory connectors may read")
	var cmVolume string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil {
			cmVolume = v.Name
			require.Equal(t, objs.configMap.Name, v.ConfigMap.Name, "the generated ConfigMap's name")
		}
		if v.Secret != nil {
			require.NotNil(t, v.Secret.DefaultMode)
		}
	}
	require.Equal(t, cmVolume, inMount(env["EXTSYNC_CONNECTORS"]).Name)
	require.True(t, inMount(env["EXTSYNC_CONNECTORS"]).ReadOnly)
	require.Contains(t, objs.configMap.Data, filepath.Base(env["EXTSYNC_CONNECTORS"]))

	// The connectors file loads, and each connector has a KEDA trigger on
	// its durable consumer.
	lenient := &config.LenientEnv{Env: func(string) (string, bool) { return "", false }}
	file, err := config.Parse("connectors.yaml", []byte(objs.configMap.Data[filepath.Base(env["EXTSYNC_CONNECTORS"])]), lenient.Lookup, deployCheck(catalog.Default()))
	require.NoError(t, err)
	s := objs.scaled
	require.Equal(t, d.Name, s.Spec.ScaleTargetRef.Name)
	require.NotNil(t, s.Spec.Fallback)
	var consumers []string
	var cpu bool
	for _, tr := range s.Spec.Triggers {
		switch tr.Type {
		case "nats-jetstream":
			require.Equal(t, env["EXTSYNC_STREAM"], tr.Metadata["stream"])
			consumers = append(consumers, tr.Metadata["consumer"])
			_, err := strconv.Atoi(tr.Metadata["lagThreshold"])
			require.NoError(t, err, "lagThreshold")
			_, mport, err := net.SplitHostPort(tr.Metadata["natsServerMonitoringEndpoint"])
			require.NoError(t, err)
			require.Equal(t, "8222", mport, "nats-values.yaml's config.monitor.port")
		case "cpu":
			cpu = true
		default:
			t.Fatalf("unexpected trigger %s", tr.Type)
		}
	}
	require.True(t, cpu, "CPU as a second signal")
	var want []string
	for _, c := range file.Connectors {
		want = append(want, c.Durable())
	}
	slices.Sort(consumers)
	slices.Sort(want)
	require.Equal(t, want, consumers, "one nats-jetstream trigger per connector")
}

// k8sNotSet reads settings-not-set.txt: "EXTSYNC_NAME  why", one a line.
func k8sNotSet(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployRoot(t), "deploy", "kubernetes", "settings-not-set.txt"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, why, _ := strings.Cut(string(line), " ")
		require.NotEmpty(t, strings.TrimSpace(why), "%s: say why it is not set", name)
		out[name] = why
	}
	return out
}

// TestKubernetesNATSValues checks the NATS chart's values: a 3-node
// JetStream cluster with monitoring where KEDA looks.
func TestKubernetesNATSValues(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployRoot(t), "deploy", "kubernetes", "nats-values.yaml"))
	require.NoError(t, err)
	var v struct {
		Config struct {
			Cluster struct {
				Enabled  bool `json:"enabled"`
				Replicas int  `json:"replicas"`
			} `json:"cluster"`
			JetStream struct {
				Enabled bool `json:"enabled"`
			} `json:"jetstream"`
			Monitor struct {
				Enabled bool `json:"enabled"`
				Port    int  `json:"port"`
			} `json:"monitor"`
		} `json:"config"`
	}
	require.NoError(t, yaml.Unmarshal(data, &v))
	require.True(t, v.Config.Cluster.Enabled)
	require.Equal(t, 3, v.Config.Cluster.Replicas)
	require.True(t, v.Config.JetStream.Enabled)
	require.True(t, v.Config.Monitor.Enabled)
	require.Equal(t, 8222, v.Config.Monitor.Port)
}
