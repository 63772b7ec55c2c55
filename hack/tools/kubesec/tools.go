//go:build tools

// Package kubesec pins the kubesec command this module builds: the static
// analyser of manifests the supply-chain lesson's tests run, as a learner
// would.
package kubesec

import _ "github.com/controlplaneio/kubesec/v2"
