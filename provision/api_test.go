package provision

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"
)

// The service's API speaks in models and its own types: no exported function, method, field
// or type alias of provision hands out a store type.
func TestAPIHasNoStoreTypes(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	usesStore := func(e ast.Expr) bool {
		found := false
		ast.Inspect(e, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "store" {
					found = true
				}
			}
			return !found
		})
		return found
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() || d.Type.Results == nil {
						continue
					}
					for _, r := range d.Type.Results.List {
						if usesStore(r.Type) {
							t.Errorf("%s: %s returns a store type", fset.Position(d.Pos()), d.Name.Name)
						}
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						ts, ok := s.(*ast.TypeSpec)
						if !ok || !ts.Name.IsExported() {
							continue
						}
						if ts.Assign.IsValid() && usesStore(ts.Type) {
							t.Errorf("%s: %s aliases a store type", fset.Position(ts.Pos()), ts.Name.Name)
						}
						if st, ok := ts.Type.(*ast.StructType); ok {
							for _, fld := range st.Fields.List {
								if len(fld.Names) > 0 && fld.Names[0].IsExported() && usesStore(fld.Type) {
									t.Errorf("%s: %s.%s is a store type", fset.Position(fld.Pos()), ts.Name.Name, fld.Names[0].Name)
								}
							}
						}
					}
				}
			}
		}
	}
}
