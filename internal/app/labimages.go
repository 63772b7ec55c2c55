package app

import (
	"context"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imagelab/imagelab/internal/labimages"
	"github.com/imagelab/imagelab/sandbox"
	"github.com/imagelab/imagelab/tui"
)

// pushLabImages builds the supply-chain lesson's images on the sandbox's
// seed and pushes them, so its steps start at once (a step's setup pushes
// them again when they are gone, and its reset rebuilds them). A failure
// is reported, not fatal: only those steps need the images, and their
// setup says what went wrong.
func pushLabImages(ctx context.Context, sb *sandbox.Sandbox, report sandbox.Reporter) {
	if report == nil {
		report = sandbox.NoReport
	}
	const msg = "putting the supply-chain lesson's images in the registry"
	start := time.Now()
	report(sandbox.Event{Phase: sandbox.PhaseSeed, Task: tui.TaskLabImages, Message: msg})
	t := labimages.Target{Host: sb.Registry.Repos(), Auth: &authn.Basic{Username: sb.Registry.User, Password: sb.Registry.Password}}
	if err := labimages.PushAll(ctx, t); err != nil {
		report(sandbox.Event{Phase: sandbox.PhaseSeed, Log: true, Task: tui.TaskLabImagesFailed, Subject: err.Error(),
			Message: "the lesson images could not be pushed (the supply-chain steps try again when they start): " + err.Error()})
		return
	}
	report(sandbox.Event{Phase: sandbox.PhaseSeed, Task: tui.TaskLabImages, Message: msg, Done: true, Elapsed: time.Since(start)})
}
