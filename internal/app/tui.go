package app

import (
	"context"
	"errors"
)

func runTUI(ctx context.Context, g *globalFlags, streams Streams) error {
	return errors.New("the interactive tutorial is not in this build yet: use imagelab lessons and imagelab check")
}
