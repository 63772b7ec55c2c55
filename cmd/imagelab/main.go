// Command imagelab teaches container image security on Kubernetes and
// checks the learner's work live against a sandbox cluster and registry.
package main

import (
	"os"

	"github.com/imagelab/imagelab/internal/app"
)

func main() { os.Exit(app.Main()) }
