package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDocumentedConfigFiles loads every YAML block of
// docs/configuration.md as a --config file, so the documented examples
// stay valid.
func TestDocumentedConfigFiles(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?ms)^```yaml\n(.*?)^```$").FindAllSubmatch(data, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/configuration.md has no yaml block")
	}
	for i, b := range blocks {
		file := filepath.Join(t.TempDir(), "runner.yaml")
		if err := os.WriteFile(file, b[1], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parseConfig(t, []string{"--config", file}, "REDIS_PASSWORD=secret", "DEPLOY_ENV=prod", "API_TOKEN=t"); err != nil {
			t.Errorf("yaml block %d does not load: %v\n%s", i+1, err, b[1])
		}
	}
}
