package main

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The layout rules of DESIGN.md, enforced: provision never imports transports or frameworks,
// no transport imports another, only main wires the app, and every package has exactly one
// package comment.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	transports := []string{"gatehouse/oauth", "gatehouse/resolvers", "gatehouse/rest", "gatehouse/scim", "gatehouse/sso", "gatehouse/graph", "gatehouse/graphiql"}
	forbidden := map[string][]string{
		"gatehouse/provision": append([]string{"net/http", "gorm.io/", "github.com/99designs/gqlgen", "github.com/crewjam/saml", "github.com/coreos/go-oidc"}, transports...),
		"gatehouse/store":     append([]string{"gatehouse/provision", "net/http"}, transports...),
		"gatehouse/models":    append([]string{"gatehouse/store", "gatehouse/provision", "gorm.io/gorm", "net/http"}, transports...),
		"gatehouse/guard":     append([]string{"gatehouse/store", "gorm.io/"}, transports...),
		// The bind client speaks to a server over HTTP only; the rules are the server's.
		"gatehouse/bindcli": {"gatehouse/"},
	}
	for _, tr := range transports {
		for _, other := range transports {
			if other != tr && !(tr == "gatehouse/resolvers" && other == "gatehouse/graph") {
				forbidden[tr] = append(forbidden[tr], other)
			}
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			// app wires everything and may import it all; only main and the test harness
			// import app, and only tests import the harness (test imports are not listed).
			if imp == "gatehouse/app" && pkg != "gatehouse" && pkg != "gatehouse/app/apptest" || imp == "gatehouse/app/apptest" {
				t.Errorf("%s imports %s", pkg, imp)
			}
			for _, bad := range forbidden[pkg] {
				if imp == bad || strings.HasPrefix(imp, bad) && (strings.HasSuffix(bad, "/") || strings.HasPrefix(imp, bad+"/")) {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
}

func TestEveryPackageHasOnePackageComment(t *testing.T) {
	dirs := map[string]int{}
	filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		dir := filepath.Dir(path)
		if _, ok := dirs[dir]; !ok {
			dirs[dir] = 0
		}
		if f.Doc != nil && !strings.HasPrefix(filepath.Base(path), "tools.go") {
			dirs[dir]++
		}
		return nil
	})
	for dir, n := range dirs {
		if strings.HasPrefix(dir, "graph") {
			continue // generated
		}
		if n != 1 {
			t.Errorf("package %s has %d package comments, want 1", dir, n)
		}
	}
}
