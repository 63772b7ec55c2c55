package lessons_test

import (
	"testing"

	"github.com/imagelab/imagelab/lessons"
)

func TestDefaultCurriculumLoads(t *testing.T) {
	c, err := lessons.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.Lessons {
		t.Logf("%d %s: %d steps", l.Order, l.ID, len(l.Steps))
	}
}
