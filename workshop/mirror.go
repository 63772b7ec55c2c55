package workshop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/imagelab/imagelab/progress"
	"github.com/imagelab/imagelab/sandbox"
)

// Keys of the progress ConfigMap.
const (
	keyProgress     = "progress.json"
	keyCurrent      = "current"
	keyCurrentSince = "current-since"
	keyUpdated      = "updated"
)

// Progress is an attendee's mirrored progress, as the board reads it.
type Progress struct {
	// Current is the step they are on (lesson/step); CurrentSince when
	// they came to it.
	Current      string    `json:"current,omitempty"`
	CurrentSince time.Time `json:"currentSince,omitzero"`
	// Updated is their last save.
	Updated time.Time                 `json:"updated,omitzero"`
	Steps   map[string]*progress.Step `json:"steps,omitempty"`
}

// ReadProgress reads a progress ConfigMap; a damaged one reads as empty,
// with the error.
func ReadProgress(cm *corev1.ConfigMap) (Progress, error) {
	var p Progress
	var st progress.State
	if err := json.Unmarshal([]byte(cm.Data[keyProgress]), &st); err != nil {
		return p, fmt.Errorf("configmap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	p.Current, p.Steps = st.Current, st.Steps
	p.CurrentSince, _ = time.Parse(time.RFC3339, cm.Data[keyCurrentSince])
	p.Updated, _ = time.Parse(time.RFC3339, cm.Data[keyUpdated])
	return p, nil
}

// Mirror copies an attendee's progress, after each save, into the
// ConfigMap imagelab-progress in their own namespace: the instructor's
// board reads it from there, and no other server is needed. Quizzes and
// the docker login, which only the attendee's machine can judge, reach
// the board this way; the board judges cluster steps itself.
type Mirror struct {
	client  kubernetes.Interface
	ns      string
	labels  map[string]string
	timeout time.Duration
	now     func() time.Time

	mu      sync.Mutex
	lastErr error
}

// NewMirror mirrors into a workshop sandbox's namespace, as the attendee.
func NewMirror(sb *sandbox.Sandbox) (*Mirror, error) {
	if sb.Provider != sandbox.ProviderWorkshop || sb.Workshop == nil {
		return nil, errors.New("not a workshop sandbox")
	}
	client, err := sb.Client()
	if err != nil {
		return nil, err
	}
	a := Attendee{Name: sb.Workshop.Attendee, Namespace: sb.Namespace}
	return &Mirror{client: client, ns: sb.Namespace, labels: a.Labels(sb.Workshop.ID), timeout: 5 * time.Second, now: time.Now}, nil
}

// Save writes the state to the ConfigMap, keeping when the attendee came
// to their current step. It waits for the API server (at most a few
// seconds, so a command-line check is not left behind); a failure is
// kept for Err, not returned: the progress file is what counts.
func (m *Mirror) Save(st progress.State) {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	err := m.save(ctx, st)
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		err = m.save(ctx, st) // another save of the attendee's raced this one
	}
	m.mu.Lock()
	m.lastErr = err
	m.mu.Unlock()
}

// Err is the last save's failure, or nil.
func (m *Mirror) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastErr
}

func (m *Mirror) save(ctx context.Context, st progress.State) error {
	doc, err := json.Marshal(st)
	if err != nil {
		return err
	}
	now := m.now().UTC().Truncate(time.Second).Format(time.RFC3339)
	cms := m.client.CoreV1().ConfigMaps(m.ns)
	cm, err := cms.Get(ctx, ProgressConfigMap, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ProgressConfigMap, Namespace: m.ns, Labels: m.labels},
			Data: map[string]string{keyProgress: string(doc), keyCurrent: st.Current, keyCurrentSince: now, keyUpdated: now}}
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
		return err
	case err != nil:
		return err
	}
	since := cm.Data[keyCurrentSince]
	if cm.Data[keyCurrent] != st.Current || since == "" {
		since = now
	}
	cm.Labels = m.labels
	cm.Data = map[string]string{keyProgress: string(doc), keyCurrent: st.Current, keyCurrentSince: since, keyUpdated: now}
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}
