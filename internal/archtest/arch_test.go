package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-dev/gatehouse"

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestPurePackages(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string
	}{
		{"internal/policy", []string{"net", "database/sql", "os/exec", module + "/internal/store", module + "/internal/proxy/postgres"}},
		{"internal/recording", []string{"net", "database/sql", module + "/internal/store", module + "/internal/proxy/postgres"}},
		{"internal/auth", []string{module + "/internal/proxy/postgres", module + "/internal/gateway"}},
		{"internal/proxy/postgres", []string{module + "/internal/store", module + "/internal/gateway", module + "/internal/connector"}},
		{"internal/store/sqlite", []string{module + "/internal/proxy/postgres", module + "/internal/gateway"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			d := deps(t, tt.pkg)
			for _, f := range tt.forbidden {
				if slices.Contains(d, f) {
					t.Errorf("%s depends on %s", tt.pkg, f)
				}
			}
		})
	}
}

func TestProductionCodeDoesNotImportTesting(t *testing.T) {
	for _, d := range deps(t, "cmd/gatehouse") {
		if d == "testing" || strings.HasSuffix(d, "/pgtest") || strings.HasSuffix(d, "/storetest") || strings.HasSuffix(d, "/apitest") {
			t.Errorf("the gatehouse binary depends on %s", d)
		}
	}
}
