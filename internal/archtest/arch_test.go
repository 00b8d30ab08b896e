package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-dev/gatehouse"

// deps lists what pkg imports: directly, or also transitively with all.
func deps(t *testing.T, pkg string, all bool) []string {
	t.Helper()
	args := []string{"list", "-f", `{{join .Imports " "}}`, module + "/" + pkg}
	if all {
		args = []string{"list", "-deps", module + "/" + pkg}
	}
	out, err := exec.Command("go", args...).Output()
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
			direct, all := deps(t, tt.pkg, false), deps(t, tt.pkg, true)
			for _, f := range tt.forbidden {
				// Standard library rules are about the package's own
				// imports; rules about our packages hold transitively.
				d := direct
				if strings.HasPrefix(f, module) {
					d = all
				}
				if slices.Contains(d, f) {
					t.Errorf("%s depends on %s", tt.pkg, f)
				}
			}
		})
	}
}

func TestProductionCodeDoesNotImportTesting(t *testing.T) {
	for _, d := range deps(t, "cmd/gatehouse", true) {
		if d == "testing" || strings.HasSuffix(d, "/pgtest") || strings.HasSuffix(d, "/storetest") || strings.HasSuffix(d, "/apitest") {
			t.Errorf("the gatehouse binary depends on %s", d)
		}
	}
}
