package tui

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/fstest"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/lessons/check"
)

// While the API server restarts after a manifest edit, the app says so,
// keeps its place and asks again; once it answers, the verdict shows.
func TestAPIServerRestarting(t *testing.T) {
	var up atomic.Bool
	check.Register(check.Definition{
		Name: "test.control-plane", Needs: check.NeedsCluster,
		Watches: []*check.Subject{check.APIServerManifest},
		Run: func(context.Context, *check.Env, check.Request) (check.Result, error) {
			if !up.Load() {
				return check.Result{}, check.ErrAPIServerRestarting
			}
			return check.Result{Passed: true, Summary: "The API server is back, with the plugin on."}, nil
		},
	})
	t.Cleanup(func() { check.Unregister("test.control-plane") })
	cur, err := lessons.Load(fstest.MapFS{
		"01-cp/lesson.yaml": {Data: []byte("id: cp\ntitle: The control plane\norder: 1\nsummary: Edit the API server's manifest.\nsteps:\n  - id: edit\n    title: Turn a plugin on\n    check:\n      name: test.control-plane\n    solution:\n      run: kubectl get pods\n")},
		"01-cp/edit.md":     {Data: []byte("# Turn a plugin on\n\nEdit the manifest on the node.\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{120, 36}, {80, 24}} {
		up.Store(false)
		l := newLab(t)
		opts := l.options()
		opts.Curriculum = cur
		a := start(t, opts, size[0], size[1])
		s := a.waitFor("sandbox ready", "The API server is restarting", "restarting?")
		t.Logf("%dx%d while the API server restarts:\n%s", size[0], size[1], s)
		up.Store(true)
		a.keys("c")
		a.waitFor("✓ Passed.")
		a.quit()
	}
}
