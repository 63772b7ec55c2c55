// Command fixturedb builds a Trivy vulnerability database from YAML
// fixtures, the way Trivy's own integration tests do
// (integration/integration_test.go initDB: bolt-fixtures loads the YAML
// into trivy.db, trivy-db's metadata client writes metadata.json), so the
// real trivy scans offline with --skip-db-update against exactly the
// advisories the fixtures hold.
//
//	fixturedb -cache DIR FIXTURE.yaml...
//
// writes DIR/db/trivy.db and DIR/db/metadata.json (TRIVY_CACHE_DIR=DIR).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	fixtures "github.com/aquasecurity/bolt-fixtures"
	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
)

func main() {
	cache := flag.String("cache", "", "Trivy cache dir to write db/ into")
	flag.Parse()
	if *cache == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: fixturedb -cache DIR FIXTURE.yaml...")
		os.Exit(2)
	}
	if err := build(*cache, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "fixturedb:", err)
		os.Exit(1)
	}
}

func build(cache string, files []string) error {
	dir := filepath.Join(cache, "db")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	loader, err := fixtures.New(db.Path(dir), files)
	if err != nil {
		return err
	}
	if err := loader.Load(); err != nil {
		loader.Close()
		return fmt.Errorf("loading the fixtures: %w", err)
	}
	if err := loader.Close(); err != nil {
		return err
	}
	// Far in the future: a test run never finds the DB stale, whatever
	// the clock says (with --skip-db-update Trivy only warns anyway).
	now := time.Now().UTC()
	return metadata.NewClient(dir).Update(metadata.Metadata{
		Version:      db.SchemaVersion,
		NextUpdate:   now.AddDate(10, 0, 0),
		UpdatedAt:    now,
		DownloadedAt: now,
	})
}
