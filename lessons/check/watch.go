package check

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// watchTimeout ends each watch request on the server's side before the
// client's own request timeout (15 s for the sandbox client) cuts it; the
// watch then resumes from the last resource version, so nothing is missed
// and nothing is reported twice.
var watchTimeout int64 = 10

// Change says that something a check looks at changed: Kind is the
// subject's kind, Name the object's name (empty for the docker config).
type Change struct {
	Kind, Name string
}

// watcher tells the app when the learner changes one of the subjects the
// checks look at: objects in the sandbox namespace (client-go watches) and
// the sandbox docker config (fsnotify). It only says that something
// changed; the app debounces and re-runs the current step's check.
type watcher struct {
	changed func(Change)
	status  func(source string, err error)

	mu      sync.Mutex
	failing map[string]bool
}

// Watch keeps a watch open on each subject that can be watched (subjects
// seen only by polling are the caller's to poll) until ctx ends. status
// reports a source when it
// starts or stops failing. Sources are named by subject kind. It returns
// at once.
func Watch(ctx context.Context, env *Env, subjects []*Subject, changed func(Change), status func(source string, err error)) {
	w := &watcher{changed: changed, status: status, failing: map[string]bool{}}
	for _, s := range subjects {
		switch s.Seen {
		case SeenByWatch:
			if !s.Namespaced && env.NoClusterScope != "" {
				continue // a seat on a shared cluster may not watch cluster-wide kinds, and has no step that needs to
			}
			if env.Kube != nil && env.Namespace != "" && s.Watch != nil {
				go w.watchKube(ctx, s.Kind, s.Watch(env.Kube, env.Namespace))
			}
		case SeenInDockerConfig:
			if env.DockerConfigDir != "" {
				go w.watchDir(ctx, s.Kind, env.DockerConfigDir)
			}
		}
	}
}

// setFailing reports a source's state when it changes.
func (w *watcher) setFailing(source string, err error) {
	w.mu.Lock()
	was := w.failing[source]
	w.failing[source] = err != nil
	w.mu.Unlock()
	if was != (err != nil) {
		w.status(source, err)
	}
}

// watchKube keeps one watch open, resuming from the last resource version.
func (w *watcher) watchKube(ctx context.Context, name string, fn WatchFunc) {
	rv := ""
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		wi, err := fn(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true, TimeoutSeconds: &watchTimeout})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
				rv = ""
				continue
			}
			w.setFailing(name, err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 10*time.Second)
			continue
		}
		backoff = 500 * time.Millisecond
		w.setFailing(name, nil)
		rv = w.drain(ctx, name, wi, rv)
	}
}

// drain reads a watch until it ends and returns the resource version to
// resume from.
func (w *watcher) drain(ctx context.Context, name string, wi watch.Interface, rv string) string {
	defer wi.Stop()
	for {
		select {
		case <-ctx.Done():
			return rv
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return rv
			}
			switch ev.Type {
			case watch.Error:
				if status, ok := ev.Object.(*metav1.Status); ok && status.Code == 410 {
					return "" // too old: start again from now
				}
				return rv
			case watch.Bookmark:
				if obj, err := meta.Accessor(ev.Object); err == nil {
					rv = obj.GetResourceVersion()
				}
			default:
				c := Change{Kind: name}
				if obj, err := meta.Accessor(ev.Object); err == nil {
					rv = obj.GetResourceVersion()
					c.Name = obj.GetName()
				}
				w.changed(c)
			}
		}
	}
}

// watchDir watches the docker config dir: docker login writes config.json
// there through a temporary file and a rename.
func (w *watcher) watchDir(ctx context.Context, kind, dir string) {
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		if err = fw.Add(dir); err != nil {
			fw.Close()
		}
	}
	if err != nil {
		w.setFailing(kind, err)
		return
	}
	defer fw.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-fw.Events:
			if !ok {
				return
			}
			if filepath.Base(ev.Name) == "config.json" || ev.Has(fsnotify.Remove) {
				w.changed(Change{Kind: kind})
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return
			}
			w.setFailing(kind, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
