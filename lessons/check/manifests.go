package check

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// A manifestNote is something a learner's manifest says about pull secrets
// that the API server would drop or refuse, found by reading the file
// (or the last-applied annotation) since the live object no longer shows it.
type manifestNote struct {
	Source string // file:line, or "last-applied annotation"
	Kind   string
	Name   string
	// Issue is one of: under-container, outside-template, declared (the
	// manifest names pull secrets where they belong), invalid.
	Issue   string
	Secrets []string
	Detail  string
}

// workloadKinds keep their pod spec under spec.template.spec.
var workloadKinds = map[string]bool{
	"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true,
	"Job": true, "ReplicationController": true,
}

// scanManifestDir reads the YAML files directly in dir.
func scanManifestDir(dir string) []manifestNote {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var notes []manifestNote
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		// Only manifests about pull secrets, or broken ones, have something to say.
		if err != nil || !bytes.Contains(data, []byte("imagePullSecrets")) && validYAML(data) {
			continue
		}
		notes = append(notes, scanManifest(e.Name(), data)...)
	}
	sort.SliceStable(notes, func(i, j int) bool { return notes[i].Source < notes[j].Source })
	return notes
}

// scanManifest reads every document of one YAML file.
func scanManifest(source string, data []byte) []manifestNote {
	var notes []manifestNote
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			notes = append(notes, manifestNote{Source: source, Issue: "invalid", Detail: err.Error()})
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		notes = append(notes, scanObject(source, doc.Content[0])...)
	}
	return notes
}

func scanObject(source string, obj *yaml.Node) []manifestNote {
	kind := scalar(get(obj, "kind"))
	name := scalar(get(get(obj, "metadata"), "name"))
	if kind == "List" {
		var notes []manifestNote
		if items := get(obj, "items"); items != nil {
			for _, it := range items.Content {
				notes = append(notes, scanObject(source, it)...)
			}
		}
		return notes
	}
	at := func(n *yaml.Node) string { return fmt.Sprintf("%s:%d", source, n.Line) }
	var notes []manifestNote
	spec := get(obj, "spec")
	podSpec := spec
	if workloadKinds[kind] {
		if ips := getKey(spec, "imagePullSecrets"); ips != nil {
			notes = append(notes, manifestNote{Source: at(ips), Kind: kind, Name: name, Issue: "outside-template", Secrets: secretNames(get(spec, "imagePullSecrets"))})
		}
		if ips := getKey(get(spec, "template"), "imagePullSecrets"); ips != nil {
			notes = append(notes, manifestNote{Source: at(ips), Kind: kind, Name: name, Issue: "outside-template", Secrets: secretNames(get(get(spec, "template"), "imagePullSecrets"))})
		}
		podSpec = get(get(spec, "template"), "spec")
	} else if kind != "Pod" {
		return nil
	}
	for _, field := range []string{"containers", "initContainers"} {
		if cs := get(podSpec, field); cs != nil {
			for _, c := range cs.Content {
				if ips := getKey(c, "imagePullSecrets"); ips != nil {
					notes = append(notes, manifestNote{Source: at(ips), Kind: kind, Name: name, Issue: "under-container", Secrets: secretNames(get(c, "imagePullSecrets"))})
				}
			}
		}
	}
	if ips := getKey(podSpec, "imagePullSecrets"); ips != nil {
		notes = append(notes, manifestNote{Source: at(ips), Kind: kind, Name: name, Issue: "declared", Secrets: secretNames(get(podSpec, "imagePullSecrets"))})
	}
	return notes
}

// getKey returns the key node of field in mapping m (for its line number).
func getKey(m *yaml.Node, field string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == field {
			return m.Content[i]
		}
	}
	return nil
}

// get returns the value node of field in mapping m.
func get(m *yaml.Node, field string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == field {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// secretNames reads [{name: regcred}] and also the common slip [regcred].
func secretNames(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, it := range n.Content {
		if s := scalar(get(it, "name")); s != "" {
			out = append(out, s)
		} else if s := scalar(it); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func validYAML(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// manifestNotes reads the learner's manifests in the work dir and the
// pod's last-applied annotation, if any.
func manifestNotes(env *Env, pod *corev1.Pod) []manifestNote {
	notes := scanManifestDir(env.WorkDir)
	if pod != nil {
		if la := pod.Annotations[lastAppliedAnnotation]; la != "" {
			notes = append(notes, scanManifest(env.T("the last-applied annotation"), []byte(la))...)
		}
	}
	return notes
}

// explainManifests turns what the manifests say about podName's pull
// secrets into findings: misplaced imagePullSecrets, and (when the live pod
// has none) a change refused because pods are immutable.
func explainManifests(env *Env, notes []manifestNote, podName string, live *corev1.Pod) []Finding {
	var found []Finding
	seen := map[string]bool{}
	for _, n := range notes {
		if n.Kind == "Pod" && n.Name != "" && n.Name != podName {
			continue
		}
		key := n.Issue + "|" + n.Kind + "|" + n.Name
		if seen[key] {
			continue // the same slip in the file and in the annotation
		}
		seen[key] = true
		switch n.Issue {
		case "under-container":
			found = append(found, Finding{Code: "pod-secret-under-container",
				Problem:  env.T("%s puts imagePullSecrets under a container; the API server refuses it there (or drops it, with --validate=false).", n.Source),
				Expected: env.T("spec.imagePullSecrets, at the same level as containers"), Try: env.T("Move imagePullSecrets out of the container, two spaces left, next to containers:.")})
		case "outside-template":
			found = append(found, Finding{Code: "deployment-secret-outside-template",
				Problem:  env.T("%s puts imagePullSecrets on the %s %s itself, outside its pod template.", n.Source, n.Kind, n.Name),
				Expected: "spec.template.spec.imagePullSecrets", Try: env.T("Move it into the pod template: spec.template.spec.imagePullSecrets, next to containers.")})
		case "invalid":
			found = append(found, Finding{Code: "manifest-invalid", Severity: Advice,
				Problem: env.T("%s is not valid YAML (%s); kubectl apply refuses it too.", n.Source, n.Detail),
				Try:     env.T("YAML indents with spaces only, and a list item starts with \"- \".")})
		case "declared":
			if live != nil && n.Kind == "Pod" && len(live.Spec.ImagePullSecrets) == 0 {
				found = append(found, Finding{Code: "pod-immutable",
					Problem:  env.T("%s names %s, but pod %s in the cluster has no pull secret: a pod's imagePullSecrets can't be added once it exists, so that change was refused.", n.Source, strings.Join(n.Secrets, ", "), podName),
					Expected: env.T("a pod created with imagePullSecrets"),
					Try:      env.T("Delete the pod and create it again: kubectl delete pod %s && kubectl apply -f <file>  (or kubectl replace --force -f <file>).", podName)})
			}
		}
	}
	return found
}
