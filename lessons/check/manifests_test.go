package check

import (
	"testing"
)

func TestScanManifest(t *testing.T) {
	const doc = `apiVersion: v1
kind: Pod
metadata:
  name: internal-app
spec:
  containers:
  - name: app
    image: localhost:5055/apps/internal-app:1.0
    imagePullSecrets:
    - name: regcred
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  imagePullSecrets:
  - name: regcred
  template:
    spec:
      containers:
      - name: app
        image: x
---
apiVersion: v1
kind: Pod
metadata:
  name: good
spec:
  containers:
  - name: app
    image: x
  imagePullSecrets: [regcred]
`
	notes := scanManifest("pod.yaml", []byte(doc))
	want := []manifestNote{
		{Source: "pod.yaml:9", Kind: "Pod", Name: "internal-app", Issue: "under-container", Secrets: []string{"regcred"}},
		{Source: "pod.yaml:17", Kind: "Deployment", Name: "web", Issue: "outside-template", Secrets: []string{"regcred"}},
		{Source: "pod.yaml:33", Kind: "Pod", Name: "good", Issue: "declared", Secrets: []string{"regcred"}},
	}
	if len(notes) != len(want) {
		t.Fatalf("got %d notes %+v, want %d", len(notes), notes, len(want))
	}
	for i := range want {
		n, w := notes[i], want[i]
		if n.Source != w.Source || n.Kind != w.Kind || n.Name != w.Name || n.Issue != w.Issue || len(n.Secrets) != 1 || n.Secrets[0] != w.Secrets[0] {
			t.Errorf("note %d = %+v, want %+v", i, n, w)
		}
	}
}

func TestScanManifestMalformed(t *testing.T) {
	notes := scanManifest("bad.yaml", []byte("kind: Pod\nspec: [unclosed\n"))
	if len(notes) != 1 || notes[0].Issue != "invalid" {
		t.Errorf("got %+v, want one invalid note", notes)
	}
}

func FuzzScanManifest(f *testing.F) {
	f.Add([]byte("kind: Pod\nspec:\n  containers:\n  - imagePullSecrets: [a]\n"))
	f.Add([]byte("kind: List\nitems:\n- kind: Deployment\n  spec: {imagePullSecrets: [{name: x}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = scanManifest("f.yaml", data)
	})
}
