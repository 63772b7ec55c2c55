//go:build tools

// Package trivy pins the Trivy command this module builds (the scanner
// and SBOM writer the supply-chain lesson's tests run, as a learner
// would) and, in ./fixturedb, the builder of the vulnerability database
// the tests scan against offline.
package trivy

import _ "github.com/aquasecurity/trivy/cmd/trivy"
