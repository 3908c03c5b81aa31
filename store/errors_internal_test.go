package store

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every unique index the migrations declare reports a domain field, not its own name.
func TestUniqueIndexesHaveFields(t *testing.T) {
	for cols, index := range sqliteUniqueColumns {
		if _, ok := uniqueFields[index]; !ok && !strings.HasSuffix(index, "_pkey") {
			t.Errorf("unique index %s (%s) has no entry in uniqueFields", index, cols)
		}
	}
	var e *ErrAlreadyExists
	if err := alreadyExists("ux_user_accounts_email"); !errors.As(err, &e) || e.Field != "email" {
		t.Errorf("alreadyExists: %v", err)
	}
	if err := alreadyExists("saml_sp_keys_pkey"); !IsAlreadyExists(err, "id") {
		t.Errorf("primary key: %v", err)
	}
}

// Index names stay inside this package: no other non-test Go file may match on one.
func TestNoIndexNamesOutsideStore(t *testing.T) {
	pat := regexp.MustCompile(`"(ux_[a-z_]+|[a-z_]+_pkey)"`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == filepath.Join("..", "store") || strings.HasPrefix(d.Name(), ".") && path != ".." {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if m := pat.Find(b); m != nil {
			t.Errorf("%s names the index %s; match on store.ErrAlreadyExists fields instead", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every exported method of Store declares its error contract in its doc comment.
func TestMethodsDocumentErrors(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range pkgs["store"].Files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || !fn.Name.IsExported() {
				continue
			}
			if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); !ok || star.X.(*ast.Ident).Name != "Store" {
				continue
			}
			n++
			if fn.Doc == nil || !strings.Contains(fn.Doc.Text(), "Errors: ") {
				t.Errorf("%s: (*Store).%s has no \"Errors: …\" sentence in its doc comment", fset.Position(fn.Pos()), fn.Name.Name)
			}
		}
	}
	if n < 100 {
		t.Fatalf("found only %d methods", n)
	}
}
