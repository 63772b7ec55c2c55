package tui

import (
	"fmt"
	"sync"

	tea "charm.land/bubbletea/v2"

	"github.com/imagelab/imagelab/lessons"
	"github.com/imagelab/imagelab/progress"
)

// course is where the learner is and what they have done: the steps in
// order, the current one, and the progress store with its saving. It has
// no view; the components read it.
type course struct {
	cur   *lessons.Curriculum
	steps []*lessons.Step
	idx   int
	store *progress.Store

	saver   *saver
	saveSeq int
	saveErr error
}

func newCourse(cur *lessons.Curriculum, store *progress.Store) *course {
	if store == nil {
		store = &progress.Store{State: progress.State{Steps: map[string]*progress.Step{}}}
	}
	c := &course{cur: cur, steps: cur.Steps(), store: store, saver: &saver{}}
	c.idx = c.resumeIndex()
	return c
}

// resumeIndex is where the learner left off, else the first step not passed.
func (c *course) resumeIndex() int {
	for i, s := range c.steps {
		if s.Ref() == c.store.State.Current {
			return i
		}
	}
	for i, s := range c.steps {
		if !c.store.Passed(s.Ref()) {
			return i
		}
	}
	return 0
}

func (c *course) step() *lessons.Step { return c.steps[c.idx] }

// switchCurriculum puts the course in another language's curriculum: the
// same steps in the same order, so the current step stays current.
func (c *course) switchCurriculum(cur *lessons.Curriculum) error {
	steps := cur.Steps()
	if len(steps) != len(c.steps) {
		return fmt.Errorf("the curriculum has %d steps, not %d", len(steps), len(c.steps))
	}
	for i, s := range steps {
		if s.Ref() != c.steps[i].Ref() {
			return fmt.Errorf("step %d is %s, not %s", i+1, s.Ref(), c.steps[i].Ref())
		}
	}
	c.cur, c.steps = cur, steps
	return nil
}

func (c *course) last() bool { return c.idx == len(c.steps)-1 }

func (c *course) indexOf(s *lessons.Step) int {
	for i, x := range c.steps {
		if x == s {
			return i
		}
	}
	return c.idx
}

// lessonTarget is the step key 1–9 opens: lesson i's first step not passed.
func (c *course) lessonTarget(i int) (*lessons.Step, bool) {
	ls := c.cur.Lessons
	if i < 0 || i >= len(ls) {
		return nil, false
	}
	for _, s := range ls[i].Steps {
		if !c.store.Passed(s.Ref()) {
			return s, true
		}
	}
	return ls[i].Steps[0], true
}

// answer is the quiz answer last given on the current step.
func (c *course) answer() string { return record(c.store, c.step().Ref()).Answer }

func (c *course) hintsShown() int {
	return min(record(c.store, c.step().Ref()).Hints, len(c.step().Hints))
}

// record is the learner's record of step ref, read without adding one
// (Store.Step adds it): views and reads leave the store as it is.
func record(store *progress.Store, ref string) progress.Step {
	if st, ok := store.State.Steps[ref]; ok {
		return *st
	}
	return progress.Step{}
}

func (c *course) passedCount() int {
	n := 0
	for _, s := range c.steps {
		if c.store.Passed(s.Ref()) {
			n++
		}
	}
	return n
}

func (c *course) allPassed() bool { return len(c.steps) > 0 && c.passedCount() == len(c.steps) }

// save writes a snapshot of the progress in a Cmd.
func (c *course) save() tea.Cmd {
	c.saveSeq++
	return c.saver.saveCmd(c.saveSeq, c.store.Clone())
}

// flush saves the progress once more after the program ended: a save
// still running in a Cmd when the learner quit is not lost. Saves asked
// for after it (a Cmd the program left running) write nothing: the
// progress file is final once the app has returned.
func (c *course) flush() error {
	c.saveSeq++
	var err error
	if msg, ok := c.saver.saveCmd(c.saveSeq, c.store.Clone())().(savedMsg); ok {
		err = msg.err
	}
	c.saver.close()
	return err
}

// saver writes progress snapshots in the order they were taken, even when
// two saves run at once.
type saver struct {
	mu      sync.Mutex
	written int
	closed  bool
}

// close waits for a save under way and refuses later ones.
func (s *saver) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func (s *saver) saveCmd(seq int, snapshot *progress.Store) tea.Cmd {
	return func() tea.Msg {
		s.mu.Lock()
		defer s.mu.Unlock()
		if seq <= s.written || s.closed {
			return nil // a newer snapshot is already on disk, or the app has ended
		}
		s.written = seq
		return savedMsg{err: snapshot.Save()}
	}
}
