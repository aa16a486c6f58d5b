package config

// Tests over the files in deploy/: the example configs load, the manifests parse and keep their hardening,
// and the Salesforce metadata and alert rules agree with the config and metric names they depend on. They
// read files only, so they need neither PostgreSQL nor a cluster.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// deployDir is deploy/ seen from this package's directory.
var deployDir = filepath.Join("..", "..", "deploy")

// yamlDocs decodes every document of a YAML file into a node, so a test can decode each into the shape
// its kind has.
func yamlDocs(t *testing.T, file string) []*yaml.Node {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		docs = append(docs, &n)
	}
}

// manifest is one Kubernetes object as read from a file, kept as a node for decoding by kind.
type manifest struct {
	file string
	kind string
	name string
	node *yaml.Node
}

// kubeManifests returns every object in the YAML files of dir (not recursive: `kubectl apply -f DIR`
// reads only DIR's own .yaml, .yml and .json files).
func kubeManifests(t *testing.T, dir string) []manifest {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ms []manifest
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		file := filepath.Join(dir, e.Name())
		for _, n := range yamlDocs(t, file) {
			var head struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name string `yaml:"name"`
				} `yaml:"metadata"`
			}
			if err := n.Decode(&head); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
				t.Errorf("%s: a document without apiVersion, kind or metadata.name", file)
			}
			ms = append(ms, manifest{file: file, kind: head.Kind, name: head.Metadata.Name, node: n})
		}
	}
	return ms
}

// oneManifest returns the single object of the kind in ms, decoded into v.
func oneManifest(t *testing.T, ms []manifest, kind string, v any) {
	t.Helper()
	var found []manifest
	for _, m := range ms {
		if m.kind == kind {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s in deploy/kubernetes, want 1", len(found), kind)
	}
	if err := found[0].node.Decode(v); err != nil {
		t.Fatalf("%s: %v", found[0].file, err)
	}
}

// The shipped example configs and the one inside the Kubernetes ConfigMap must load as they are.
func TestDeployConfigsAreValid(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"proffsync.example.yaml", filepath.Join("salesforce", "proffsync.lead.example.yaml")} {
		c, err := Load(filepath.Join(deployDir, f))
		if err != nil {
			t.Errorf("deploy/%s: %v", f, err)
			continue
		}
		// The examples show the sections issue 12 added and a name written as people write it.
		if !c.present["sync"] || !c.present["notify"] || c.Mapping[0].Proff != "name" || c.Mapping[0].Format != "title" {
			t.Errorf("deploy/%s: sync %v, notify %v, first rule %+v", f, c.present["sync"], c.present["notify"], c.Mapping[0])
		}
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	oneManifest(t, kubeManifests(t, filepath.Join(deployDir, "kubernetes")), "ConfigMap", &cm)
	c, err := Parse("configmap proffsync.yaml", []byte(cm.Data["proffsync.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.HTTPAddr != "0.0.0.0:8080" || c.Schedule.Enabled {
		t.Errorf("configmap: http_addr %q, schedule enabled %v", c.Serve.HTTPAddr, c.Schedule.Enabled)
	}
}

// Every YAML file under deploy/ parses (all documents).
func TestDeployYAMLParses(t *testing.T) {
	t.Parallel()
	n := 0
	err := filepath.WalkDir(deployDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return err
		}
		n += len(yamlDocs(t, path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Errorf("parsed only %d YAML documents under deploy/", n)
	}
}

// `kubectl apply -f deploy/kubernetes/` is what its header tells people to run, again on every change: a
// Secret in there would overwrite the real one with placeholders.
func TestKubernetesApplyDirHoldsNoSecret(t *testing.T) {
	t.Parallel()
	ms := kubeManifests(t, filepath.Join(deployDir, "kubernetes"))
	kinds := map[string]bool{}
	for _, m := range ms {
		kinds[m.kind] = true
		if m.kind == "Secret" {
			t.Errorf("%s: a Secret (%s) in the directory people apply as a whole", m.file, m.name)
		}
	}
	for _, k := range []string{"ConfigMap", "Deployment", "Service", "NetworkPolicy"} {
		if !kinds[k] {
			t.Errorf("no %s in deploy/kubernetes", k)
		}
	}
}

type kubeSecurityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
		Add  []string `yaml:"add"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type kubeDeployment struct {
	Spec struct {
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				AutomountServiceAccountToken *bool               `yaml:"automountServiceAccountToken"`
				SecurityContext              kubeSecurityContext `yaml:"securityContext"`
				Containers                   []struct {
					Name  string `yaml:"name"`
					Image string `yaml:"image"`
					Env   []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					Ports []struct {
						ContainerPort int `yaml:"containerPort"`
					} `yaml:"ports"`
					SecurityContext kubeSecurityContext `yaml:"securityContext"`
					VolumeMounts    []struct {
						Name      string `yaml:"name"`
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
				Volumes []struct {
					Name   string `yaml:"name"`
					Secret *struct {
						SecretName string `yaml:"secretName"`
					} `yaml:"secret"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// The pod keeps the Pod Security "restricted" settings, no service account token and a registry-qualified
// image.
func TestKubernetesDeploymentIsHardened(t *testing.T) {
	t.Parallel()
	var d kubeDeployment
	oneManifest(t, kubeManifests(t, filepath.Join(deployDir, "kubernetes")), "Deployment", &d)
	pod := d.Spec.Template.Spec
	if !isFalse(pod.AutomountServiceAccountToken) {
		t.Error("automountServiceAccountToken is not false: the pod gets an API token it never needs")
	}
	if len(pod.Containers) == 0 {
		t.Fatal("no containers")
	}
	for _, c := range pod.Containers {
		sc := c.SecurityContext
		if !isTrue(sc.RunAsNonRoot) && !isTrue(pod.SecurityContext.RunAsNonRoot) {
			t.Errorf("%s: runAsNonRoot is not true", c.Name)
		}
		if sc.SeccompProfile.Type != "RuntimeDefault" && pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
			t.Errorf("%s: no seccompProfile RuntimeDefault", c.Name)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			t.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
		}
		if !isFalse(sc.AllowPrivilegeEscalation) {
			t.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
		}
		if !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities drop %v add %v, want drop [ALL] and nothing added", c.Name, sc.Capabilities.Drop, sc.Capabilities.Add)
		}
		// A bare name resolves to Docker Hub, where anyone may have pushed "proffsync"; :latest is not a
		// version anyone can roll back to.
		repo, tag, _ := strings.Cut(c.Image, ":")
		if host, _, ok := strings.Cut(repo, "/"); !ok || !strings.ContainsAny(host, ".:") {
			t.Errorf("%s: image %q does not name a registry host", c.Name, c.Image)
		}
		if tag == "" || tag == "latest" {
			t.Errorf("%s: image %q has no version tag", c.Name, c.Image)
		}
	}
}

// Every _FILE variable of the Deployment points at a key the example Secret has, and the example
// DATABASE_URL verifies the server against the CA mounted from that Secret.
func TestKubernetesSecretKeysMatchExample(t *testing.T) {
	t.Parallel()
	var d kubeDeployment
	oneManifest(t, kubeManifests(t, filepath.Join(deployDir, "kubernetes")), "Deployment", &d)
	var secret struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		StringData map[string]string `yaml:"stringData"`
	}
	oneManifest(t, kubeManifests(t, filepath.Join(deployDir, "kubernetes-secret.example")), "Secret", &secret)

	pod := d.Spec.Template.Spec
	secretVolume := ""
	for _, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName == secret.Metadata.Name {
			secretVolume = v.Name
		}
	}
	mount := ""
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.Name == secretVolume {
			mount = m.MountPath
		}
	}
	if secretVolume == "" || mount == "" {
		t.Fatalf("the Deployment does not mount the Secret %q", secret.Metadata.Name)
	}
	fileVars := 0
	for _, e := range pod.Containers[0].Env {
		if !strings.HasSuffix(e.Name, "_FILE") {
			continue
		}
		fileVars++
		dir, key := path.Split(e.Value)
		if path.Clean(dir) != mount {
			t.Errorf("%s=%s is not under the secret mount %s", e.Name, e.Value, mount)
		} else if _, ok := secret.StringData[key]; !ok {
			t.Errorf("%s=%s: the example Secret has no key %q", e.Name, e.Value, key)
		}
	}
	if fileVars < 3 {
		t.Errorf("only %d _FILE variables in the Deployment", fileVars)
	}

	u, err := url.Parse(secret.StringData["database_url"])
	if err != nil {
		t.Fatalf("example database_url: %v", err)
	}
	q := u.Query()
	if q.Get("sslmode") != "verify-full" {
		t.Errorf("example database_url: sslmode %q, want verify-full", q.Get("sslmode"))
	}
	dir, key := path.Split(q.Get("sslrootcert"))
	if path.Clean(dir) != mount {
		t.Errorf("example database_url: sslrootcert %q is not under the secret mount %s", q.Get("sslrootcert"), mount)
	} else if !strings.Contains(secret.StringData[key], "BEGIN CERTIFICATE") {
		t.Errorf("example database_url: sslrootcert names key %q, which is not a certificate in the example Secret", key)
	}
}

// The NetworkPolicy selects the pod, restricts both directions, lets in only the HTTP port and lets out
// only DNS, HTTPS and PostgreSQL. An egress rule without ports would open everything.
func TestKubernetesNetworkPolicy(t *testing.T) {
	t.Parallel()
	ms := kubeManifests(t, filepath.Join(deployDir, "kubernetes"))
	var d kubeDeployment
	oneManifest(t, ms, "Deployment", &d)
	type rule struct {
		Ports []struct {
			Protocol string `yaml:"protocol"`
			Port     int    `yaml:"port"`
		} `yaml:"ports"`
	}
	var np struct {
		Spec struct {
			PodSelector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"podSelector"`
			PolicyTypes []string `yaml:"policyTypes"`
			Ingress     []rule   `yaml:"ingress"`
			Egress      []rule   `yaml:"egress"`
		} `yaml:"spec"`
	}
	oneManifest(t, ms, "NetworkPolicy", &np)

	sel := np.Spec.PodSelector.MatchLabels
	if len(sel) == 0 {
		t.Error("the NetworkPolicy selects every pod in the namespace")
	}
	for k, v := range sel {
		if d.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("the NetworkPolicy selects %s=%s, which the pod does not carry", k, v)
		}
	}
	slices.Sort(np.Spec.PolicyTypes)
	if !slices.Equal(np.Spec.PolicyTypes, []string{"Egress", "Ingress"}) {
		t.Errorf("policyTypes %v, want both Ingress and Egress", np.Spec.PolicyTypes)
	}
	ports := func(dir string, rs []rule) []string {
		var out []string
		for i, r := range rs {
			if len(r.Ports) == 0 {
				t.Errorf("%s rule %d has no ports: it allows every port", dir, i)
			}
			for _, p := range r.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = "TCP"
				}
				out = append(out, fmt.Sprintf("%s/%d", proto, p.Port))
			}
		}
		slices.Sort(out)
		return out
	}
	httpPort := fmt.Sprintf("TCP/%d", d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort)
	if got := ports("ingress", np.Spec.Ingress); !slices.Equal(got, []string{httpPort}) {
		t.Errorf("ingress ports %v, want only %s", got, httpPort)
	}
	if got, want := ports("egress", np.Spec.Egress), []string{"TCP/443", "TCP/53", "TCP/5432", "UDP/53"}; !slices.Equal(got, want) {
		t.Errorf("egress ports %v, want %v (DNS, HTTPS to Proff and Salesforce, PostgreSQL)", got, want)
	}
}

// systemdUnit reads a unit file into its [Service] directives, each with every value it was given (a
// directive may repeat; an empty assignment resets the list, which is what CapabilityBoundingSet= means).
func systemdUnit(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	section := ""
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		case section == "Service":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not key=value", file, line)
			}
			out[strings.TrimSpace(k)] = append(out[strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// The unit keeps the sandboxing that takes `systemd-analyze security` from 6.3 to about 1: a directive
// dropped or loosened fails here, naming it.
func TestSystemdUnitIsHardened(t *testing.T) {
	t.Parallel()
	u := systemdUnit(t, filepath.Join(deployDir, "systemd", "proffsync.service"))
	want := map[string]string{
		"DynamicUser":             "yes",
		"NoNewPrivileges":         "yes",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"RestrictSUIDSGID":        "yes",
		"PrivateUsers":            "yes",
		"RemoveIPC":               "yes",
		"KeyringMode":             "private",
		"UMask":                   "0077",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"DevicePolicy":            "closed",
		"PrivateMounts":           "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"ProtectProc":             "invisible",
		"ProcSubset":              "pid",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"SystemCallErrorNumber":   "EPERM",
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v := want[k]
		got, ok := u[k]
		if !ok {
			t.Errorf("%s= is missing", k)
		} else if got[len(got)-1] != v {
			t.Errorf("%s=%s, want %s=%s", k, got[len(got)-1], k, v)
		}
	}

	// The address families Go's net package and a PostgreSQL Unix socket need, and no more.
	fams := strings.Fields(strings.Join(u["RestrictAddressFamilies"], " "))
	slices.Sort(fams)
	if !slices.Equal(fams, []string{"AF_INET", "AF_INET6", "AF_UNIX"}) {
		t.Errorf("RestrictAddressFamilies=%v, want AF_INET AF_INET6 AF_UNIX", fams)
	}

	// An allow list, then a deny list that takes out the privileged and resource-changing calls.
	allow, deny := map[string]bool{}, map[string]bool{}
	for _, v := range u["SystemCallFilter"] {
		if rest, ok := strings.CutPrefix(v, "~"); ok {
			for _, s := range strings.Fields(rest) {
				deny[s] = true
			}
		} else {
			for _, s := range strings.Fields(v) {
				allow[s] = true
			}
		}
	}
	if len(allow) != 1 || !allow["@system-service"] {
		t.Errorf("SystemCallFilter allows %v, want only @system-service", allow)
	}
	for _, s := range []string{"@privileged", "@resources"} {
		if !deny[s] {
			t.Errorf("SystemCallFilter does not deny %s", s)
		}
	}

	// Each credential reaches proffsync through a _FILE variable pointing into the credentials directory.
	envs := strings.Join(u["Environment"], "\n")
	for _, lc := range u["LoadCredential"] {
		name, _, _ := strings.Cut(lc, ":")
		if !strings.Contains(envs, "_FILE=%d/"+name) {
			t.Errorf("LoadCredential=%s has no _FILE variable pointing at %%d/%s", lc, name)
		}
	}
	if len(u["LoadCredential"]) < 3 {
		t.Errorf("only %d LoadCredential lines", len(u["LoadCredential"]))
	}
}

// ruleGroups is the part of a Prometheus rule file the tests look at.
type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// The two alerts people need are shipped, as a plain rule file and as a PrometheusRule with the same
// rules, and they use the metric names README: Contract gives (an alert on a series that does not exist
// never fires, silently).
func TestAlertRules(t *testing.T) {
	t.Parallel()
	var plain ruleGroups
	docs := yamlDocs(t, filepath.Join(deployDir, "monitoring", "proffsync.rules.yml"))
	if len(docs) != 1 {
		t.Fatalf("proffsync.rules.yml: %d documents, want 1", len(docs))
	}
	if err := docs[0].Decode(&plain); err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Kind string     `yaml:"kind"`
		Spec ruleGroups `yaml:"spec"`
	}
	docs = yamlDocs(t, filepath.Join(deployDir, "monitoring", "prometheusrule.yaml"))
	if len(docs) != 1 {
		t.Fatalf("prometheusrule.yaml: %d documents, want 1", len(docs))
	}
	if err := docs[0].Decode(&pr); err != nil || pr.Kind != "PrometheusRule" {
		t.Fatalf("prometheusrule.yaml: kind %q, %v", pr.Kind, err)
	}
	if fmt.Sprint(plain) != fmt.Sprint(pr.Spec) {
		t.Errorf("prometheusrule.yaml and proffsync.rules.yml hold different rules:\n%v\n%v", pr.Spec, plain)
	}

	exprs := map[string]string{}
	for _, g := range plain.Groups {
		for _, r := range g.Rules {
			exprs[r.Alert] = r.Expr
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: needs a severity label, a summary and a description", r.Alert)
			}
		}
	}
	want := map[string][]string{
		"ProffsyncNoCompletedRun": {"time() - ", "proffsync_last_completed_run_timestamp_seconds", "> 25 * 3600"},
		"ProffsyncLastRunFailed":  {`proffsync_last_run_status{status=~"failed|interrupted"}`, "== 1"},
	}
	for alert, parts := range want {
		e, ok := exprs[alert]
		if !ok {
			t.Errorf("no alert %s", alert)
		}
		for _, p := range parts {
			if !strings.Contains(e, p) {
				t.Errorf("alert %s: expr %q does not contain %q", alert, e, p)
			}
		}
	}

	// Every proffsync series an alert reads is one metrics.go registers, or one of the two README: Contract
	// names (being added to metrics.go as this is written).
	src, err := os.ReadFile(filepath.Join("..", "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{
		"proffsync_last_completed_run_timestamp_seconds": true,
		"proffsync_last_run_status":                      true,
	}
	for _, m := range regexp.MustCompile(`"(proffsync_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[m[1]] = true
	}
	for alert, e := range exprs {
		for _, name := range regexp.MustCompile(`proffsync_[a-z_]+`).FindAllString(e, -1) {
			if !known[name] {
				t.Errorf("alert %s reads %s, which proffsync does not export", alert, name)
			}
		}
	}
}

// sfDir is the SFDX project with the custom fields and the permission set.
var sfDir = filepath.Join(deployDir, "salesforce")

// exampleConfigs are the configs the Salesforce metadata is made for, one per object.
var exampleConfigs = []string{
	filepath.Join(deployDir, "proffsync.example.yaml"),
	filepath.Join(sfDir, "proffsync.lead.example.yaml"),
}

// notInFieldPermissions are fields Salesforce refuses in a permission set's fieldPermissions: required
// fields (always visible and editable with the object) and system fields outside field-level security.
// proffsync still reads or writes them; the object permission covers them.
var notInFieldPermissions = map[string]bool{
	"Account.Name":     true,
	"Lead.Company":     true,
	"Lead.LastName":    true,
	"Lead.IsConverted": true, // the adapter adds IsConverted = false for Leads
}

var (
	soqlString   = regexp.MustCompile(`'(?:[^'\\]|\\.)*'`)
	soqlDateTime = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?`)
	soqlIdent    = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*`)
	soqlDateLit  = regexp.MustCompile(`^(?i:TODAY|YESTERDAY|TOMORROW|(?:LAST|NEXT|THIS)_[A-Z_]+)$`)
	soqlKeyword  = map[string]bool{"AND": true, "OR": true, "NOT": true, "IN": true, "LIKE": true, "NULL": true,
		"TRUE": true, "FALSE": true, "INCLUDES": true, "EXCLUDES": true}
)

// filterFields returns the field names a salesforce.filter reads: the query fails unless the user may read
// them. Literals, keywords and date literals are not fields.
func filterFields(t *testing.T, filter string) []string {
	t.Helper()
	f := soqlDateTime.ReplaceAllString(soqlString.ReplaceAllString(filter, "''"), "0")
	var out []string
	for _, id := range soqlIdent.FindAllString(f, -1) {
		if soqlKeyword[strings.ToUpper(id)] || soqlDateLit.MatchString(id) {
			continue
		}
		if strings.Contains(id, ".") {
			t.Fatalf("filter %q reads %s on a related object: extend the test and the permission set", filter, id)
		}
		out = append(out, id)
	}
	return out
}

func TestFilterFields(t *testing.T) {
	t.Parallel()
	got := filterFields(t, `Type = 'Customer AND Rating' AND (Rating IN ('Hot') OR CreatedDate > LAST_N_DAYS:30 OR LastModifiedDate < 2024-01-02T03:04:05Z) AND Industry != null`)
	if want := []string{"Type", "Rating", "CreatedDate", "LastModifiedDate", "Industry"}; !slices.Equal(got, want) {
		t.Errorf("filterFields = %v, want %v", got, want)
	}
}

// sfAccess is what proffsync needs on one field: read, or read and edit.
type sfAccess struct{ edit bool }

// neededAccess computes, from the example configs, the field access proffsync needs ("Object.Field") and
// the role of each custom field (for its type).
func neededAccess(t *testing.T) (fields map[string]sfAccess, custom map[string]string, objects []string) {
	t.Helper()
	fields, custom = map[string]sfAccess{}, map[string]string{}
	for _, file := range exampleConfigs {
		c, err := Load(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		obj := c.Salesforce.Object
		objects = append(objects, obj)
		add := func(f, role string, edit bool) {
			if f == "" {
				return
			}
			k := obj + "." + f
			fields[k] = sfAccess{edit: edit || fields[k].edit}
			if strings.HasSuffix(strings.ToLower(f), "__c") {
				custom[k] = role
			}
		}
		add(c.Salesforce.OrgNumberField, "Text", false)
		add(c.Salesforce.CountryField, "Text", false)
		add(c.Salesforce.OptInField, "Checkbox", false)
		for _, f := range filterFields(t, c.Salesforce.Filter) {
			add(f, "", false)
		}
		for _, r := range c.Mapping {
			add(r.Field, "", true)
		}
		add(c.Salesforce.LastSyncedField, "DateTime", true)
	}
	return fields, custom, objects
}

// Every XML file of the SFDX project is well-formed, and sfdx-project.json names the package directory.
func TestSalesforceMetadataParses(t *testing.T) {
	t.Parallel()
	n := 0
	err := filepath.WalkDir(sfDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".xml") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dec := xml.NewDecoder(bytes.NewReader(b))
		for {
			if _, err := dec.Token(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Errorf("%s: %v", p, err)
				break
			}
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 9 {
		t.Errorf("only %d XML files under deploy/salesforce", n)
	}
	b, err := os.ReadFile(filepath.Join(sfDir, "sfdx-project.json"))
	if err != nil {
		t.Fatal(err)
	}
	var proj struct {
		PackageDirectories []struct {
			Path string `json:"path"`
		} `json:"packageDirectories"`
	}
	if err := json.Unmarshal(b, &proj); err != nil {
		t.Fatalf("sfdx-project.json: %v", err)
	}
	for _, pd := range proj.PackageDirectories {
		if _, err := os.Stat(filepath.Join(sfDir, pd.Path)); err != nil {
			t.Errorf("sfdx-project.json: package directory %s: %v", pd.Path, err)
		}
	}
	if len(proj.PackageDirectories) == 0 {
		t.Error("sfdx-project.json has no packageDirectories")
	}
}

// The custom field metadata creates exactly the custom fields the example configs use, with the type each
// role needs, and nothing more.
func TestSalesforceCustomFieldsMatchConfig(t *testing.T) {
	t.Parallel()
	_, want, _ := neededAccess(t)
	files, err := filepath.Glob(filepath.Join(sfDir, "force-app", "main", "default", "objects", "*", "fields", "*.field-meta.xml"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cf struct {
			FullName string `xml:"fullName"`
			Type     string `xml:"type"`
		}
		if err := xml.Unmarshal(b, &cf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		obj := filepath.Base(filepath.Dir(filepath.Dir(f)))
		if base := strings.TrimSuffix(filepath.Base(f), ".field-meta.xml"); cf.FullName != base {
			t.Errorf("%s: fullName %q, want the file's name %q", f, cf.FullName, base)
		}
		got[obj+"."+cf.FullName] = cf.Type
	}
	for k, role := range want {
		if typ, ok := got[k]; !ok {
			t.Errorf("no metadata for %s, which the example config uses", k)
		} else if role != "" && typ != role {
			t.Errorf("%s is a %s field, want %s", k, typ, role)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("metadata for %s, which no example config uses", k)
		}
	}
}

// The permission set grants exactly what proffsync needs: read on what it selects by, edit on what it
// writes, read and edit (no create, delete or view-all) on the objects, and API access.
func TestSalesforcePermissionSetMatchesConfig(t *testing.T) {
	t.Parallel()
	want, _, objects := neededAccess(t)
	b, err := os.ReadFile(filepath.Join(sfDir, "force-app", "main", "default", "permissionsets", "Proff_Sync_Integration.permissionset-meta.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var ps struct {
		FieldPermissions []struct {
			Field    string `xml:"field"`
			Readable bool   `xml:"readable"`
			Editable bool   `xml:"editable"`
		} `xml:"fieldPermissions"`
		ObjectPermissions []struct {
			Object           string `xml:"object"`
			AllowCreate      bool   `xml:"allowCreate"`
			AllowRead        bool   `xml:"allowRead"`
			AllowEdit        bool   `xml:"allowEdit"`
			AllowDelete      bool   `xml:"allowDelete"`
			ViewAllRecords   bool   `xml:"viewAllRecords"`
			ModifyAllRecords bool   `xml:"modifyAllRecords"`
		} `xml:"objectPermissions"`
		UserPermissions []struct {
			Name    string `xml:"name"`
			Enabled bool   `xml:"enabled"`
		} `xml:"userPermissions"`
	}
	if err := xml.Unmarshal(b, &ps); err != nil {
		t.Fatal(err)
	}

	got := map[string]sfAccess{}
	for _, fp := range ps.FieldPermissions {
		if _, dup := got[fp.Field]; dup {
			t.Errorf("%s is listed twice", fp.Field)
		}
		if !fp.Readable {
			t.Errorf("%s: not readable (an entry that grants nothing, or edit without read)", fp.Field)
		}
		if notInFieldPermissions[fp.Field] {
			t.Errorf("%s: Salesforce refuses field permissions on it (required or system field)", fp.Field)
		}
		got[fp.Field] = sfAccess{edit: fp.Editable}
	}
	for k, a := range want {
		if notInFieldPermissions[k] {
			continue
		}
		if g, ok := got[k]; !ok {
			t.Errorf("%s: no field permission, proffsync needs read%s", k, map[bool]string{true: " and edit"}[a.edit])
		} else if g.edit != a.edit {
			t.Errorf("%s: editable %v, want %v", k, g.edit, a.edit)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: a field permission proffsync does not need", k)
		}
	}

	var gotObjects []string
	for _, op := range ps.ObjectPermissions {
		gotObjects = append(gotObjects, op.Object)
		if !op.AllowRead || !op.AllowEdit || op.AllowCreate || op.AllowDelete || op.ViewAllRecords || op.ModifyAllRecords {
			t.Errorf("%s: %+v, want read and edit only", op.Object, op)
		}
	}
	slices.Sort(gotObjects)
	slices.Sort(objects)
	if !slices.Equal(gotObjects, objects) {
		t.Errorf("object permissions on %v, want %v", gotObjects, objects)
	}
	if len(ps.UserPermissions) != 1 || ps.UserPermissions[0].Name != "ApiEnabled" || !ps.UserPermissions[0].Enabled {
		t.Errorf("user permissions %+v, want only ApiEnabled", ps.UserPermissions)
	}
}

// The compose secrets directory stays out of git and, with the rest of what may hold a secret, out of the
// docker build context.
func TestIgnoreFilesKeepSecretsOut(t *testing.T) {
	t.Parallel()
	lines := func(name string) map[string]bool {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				out[l] = true
			}
		}
		return out
	}
	if !lines(".gitignore")["/deploy/secrets/"] {
		t.Error(".gitignore does not ignore /deploy/secrets/, where docker-compose.yml reads its secrets from")
	}
	di := lines(".dockerignore")
	for _, p := range []string{".git", "deploy", "**/secrets", "**/*.key", "**/*.pem", "**/.env", "**/*.test"} {
		if !di[p] {
			t.Errorf(".dockerignore lacks %s", p)
		}
	}
	compose, err := os.ReadFile(filepath.Join(deployDir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), "file: ./secrets/") {
		t.Error("docker-compose.yml no longer reads its secrets from ./secrets/: update .gitignore and this test")
	}
}
