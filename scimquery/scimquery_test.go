package scimquery_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The filter library stays inside scim/: every other package, tests and benchmarks included,
// sees filters as scimquery trees.
func TestOnlySCIMImportsTheFilterLibrary(t *testing.T) {
	const library = "github.com/scim2/filter-parser"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "gatehouse/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		if pkg == "gatehouse/scim" {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, library) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
}
