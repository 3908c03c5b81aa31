package resolvers

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"gatehouse/graph"
)

var testSchema = graph.NewExecutableSchema(graph.Config{Resolvers: &Resolver{}}).Schema()

// parseValidate does what gqlgen does with a query it has not cached.
func parseValidate(query string) (*ast.QueryDocument, gqlerror.List) {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, MaxParseTokens)
	if err != nil {
		return nil, gqlerror.List{err.(*gqlerror.Error)}
	}
	if len(doc.Operations) == 0 {
		return nil, gqlerror.List{gqlerror.Errorf("no operation provided")}
	}
	if errs := validator.Validate(testSchema, doc); len(errs) > 0 {
		return nil, errs
	}
	return doc, nil
}

const bindQuery = `mutation { updateUserAccountCredentials(input: { accountUuid: "%s", authModule: "microsoft", identifier: "%s" secret: "" }) { userAccount { uuid credentials { authModule identifier } } errors { label message value code } } }`

// addTwice adds doc as gqlgen does for two requests of its shape: the cache keeps a shape the
// second time.
func addTwice(c *shapeCache, q string, doc *ast.QueryDocument) {
	c.Add(context.Background(), q, doc)
	c.Add(context.Background(), q, doc)
}

func shapeKey(t *testing.T, q string) string {
	t.Helper()
	sh, ok := lexShape(q, MaxParseTokens)
	if !ok {
		return ""
	}
	return string(sh.key)
}

func TestShapeKeys(t *testing.T) {
	same := func(a, b string, want bool) {
		t.Helper()
		ka, kb := shapeKey(t, a), shapeKey(t, b)
		if ka == "" || kb == "" {
			t.Fatalf("not normalised: %q / %q", a, b)
		}
		if (ka == kb) != want {
			t.Errorf("same shape %v, want %v:\n%s\n%s", ka == kb, want, a, b)
		}
	}
	same(fmt.Sprintf(bindQuery, "u1", "jane@contoso.com"), fmt.Sprintf(bindQuery, "u2-longer", "joe@contoso.com"), true)
	same(`{ userAccounts(first: 1) { totalCount } }`, "{\n  userAccounts(first: -20) {\n totalCount } }", true)
	same(`{ f(x: 1.5) }`, `{ f(x: 2e10) }`, true)
	same(`{ f(x: """a""") }`, `{ f(x: """b""") }`, true)
	// Kinds, enums, booleans, null and names stay in the key.
	same(`{ f(x: 1) }`, `{ f(x: "1") }`, false)
	same(`{ f(x: 1) }`, `{ f(x: 1.0) }`, false)
	same(`{ f(x: "a") }`, `{ f(x: """a""") }`, false)
	same(`{ f(x: A) }`, `{ f(x: B) }`, false)
	same(`{ f(x: true) }`, `{ f(x: false) }`, false)
	same(`{ f(x: null) }`, `{ f(x: "null") }`, false)
	same(`{ a: f }`, `{ b: f }`, false)
	// Ints that don't fit 32 bits are refused by validation: they stay in the key.
	same(`{ f(x: 2147483647) }`, `{ f(x: 2147483648) }`, false)
	same(`{ f(x: 2147483648) }`, `{ f(x: 2147483649) }`, false)
	// Which values are equal is part of the shape (field merging compares arguments).
	same(`{ a: f(x: "1") a: f(x: "2") }`, `{ a: f(x: "3") a: f(x: "3") }`, false)
	same(`{ a: f(x: "1") a: f(x: "1") }`, `{ a: f(x: "3") a: f(x: "3") }`, true)
	if shapeKey(t, "# comment\n{ f }") != "" {
		t.Errorf("documents with comments are cached by their text only")
	}
}

func TestShapeCacheSubstitutesValuesAndPositions(t *testing.T) {
	c := newShapeCache(nil, 10, 1<<20, 1<<20, MaxParseTokens)
	ctx := context.Background()
	q1 := fmt.Sprintf(bindQuery, "u1", "jane@contoso.com")
	doc, errs := parseValidate(q1)
	if errs != nil {
		t.Fatal(errs)
	}
	c.Add(ctx, q1, doc)
	if _, ok := c.Get(ctx, q1); ok || c.docs.Len() != 0 {
		t.Fatalf("a shape seen once is cached")
	}
	c.Add(ctx, q1, doc)
	if got, ok := c.Get(ctx, q1); !ok || got != doc {
		t.Fatalf("same text: hit %v", ok)
	}
	q2 := "mutation {\n" + strings.TrimPrefix(fmt.Sprintf(bindQuery, "0190a6f2-long-uuid", "joe@contoso.com"), "mutation { ")
	got, ok := c.Get(ctx, q2)
	if !ok {
		t.Fatalf("same shape missed")
	}
	want, errs := parseValidate(q2)
	if errs != nil {
		t.Fatal(errs)
	}
	if err := equalDocs(got, want); err != nil {
		t.Fatal(err)
	}
	if err := noSharedNodes(doc, got); err != nil {
		t.Fatal(err)
	}
}

func TestShapeCacheBounds(t *testing.T) {
	ctx := context.Background()
	c := newShapeCache(nil, 3, 1<<20, 1<<20, MaxParseTokens)
	for i := range 5 {
		q := fmt.Sprintf(`{ a%d: viewer { clientId } }`, i)
		doc, _ := parseValidate(q)
		addTwice(c, q, doc)
	}
	if c.docs.Len() != 3 {
		t.Fatalf("entries: %d", c.docs.Len())
	}
	if _, ok := c.Get(ctx, `{ a0: viewer { clientId } }`); ok {
		t.Fatalf("oldest entry kept")
	}
	// A big aliased document of one shape is cached (once); one bigger than an entry may be
	// is not, and the total stays within its bound.
	alias := func(n, from int) string {
		var b strings.Builder
		b.WriteString("mutation {")
		for k := from; k < from+n; k++ {
			fmt.Fprintf(&b, " b%d: "+strings.TrimSuffix(strings.TrimPrefix(bindQuery, "mutation { "), " }"), k, fmt.Sprint("u", k), fmt.Sprint(k, "@x"))
		}
		return b.String() + "}"
	}
	c = newShapeCache(nil, 1000, 4<<20, 2<<20, MaxParseTokens)
	q := alias(100, 0)
	doc, errs := parseValidate(q)
	if errs != nil {
		t.Fatal(errs)
	}
	addTwice(c, q, doc)
	q2 := strings.ReplaceAll(q, `"u`, `"v`)
	if got, ok := c.Get(ctx, q2); !ok || got.Operations[0].SelectionSet[7].(*ast.Field).Arguments[0].Value.Children[0].Value.Raw != "v7" {
		t.Fatalf("100 aliases: hit %v", ok)
	}
	big := alias(2000, 0)
	doc, _ = parseValidate(big)
	addTwice(c, big, doc)
	if _, ok := c.Get(ctx, big); ok || c.docs.Len() != 1 {
		t.Fatalf("2000 aliases cached (%d entries)", c.docs.Len())
	}
}

// FuzzShapeCache checks a cached document against a fresh parse: the fuzzer's query is the
// template, and the same tokens with other literal values and other spacing must come back
// exactly as gqlparser parses and validates them, sharing no node with the template, and a
// text that fails validation must never be answered from the cache.
func FuzzShapeCache(f *testing.F) {
	f.Add(fmt.Sprintf(bindQuery, "u1", "jane@contoso.com"), "x|yy|\"q\"\\\n|é|", uint64(1))
	f.Add(`{ userAccounts(filter: {authModule: "m", identifier: "i"}, first: 5, after: "c") { totalCount nodes { uuid } } }`, "1|-7|a", uint64(7))
	f.Add(`query Q($f: Int = 3, $a: String = "x") { userAccounts(first: $f, after: $a) { ...N } } fragment N on UserAccountConnection { totalCount }`, "z|9", uint64(3))
	f.Add(`{ a: userAccounts(first: 1) { totalCount } a: userAccounts(first: 1) { totalCount } }`, "2|2", uint64(0))
	f.Add(`{ a: userAccounts(first: 1) { totalCount } a: userAccounts(first: 2) { totalCount } }`, "2|2", uint64(0))
	f.Add(`{ userAccounts(after: """block""") { totalCount } viewer @include(if: true) { clientId } }`, "b|", uint64(5))
	f.Add(`{ auditEvents(first: 2147483647, before: 12) { id } }`, "big|1", uint64(2))
	f.Add(`"""desc""" query { viewer { clientId } }`, "d", uint64(0))
	f.Add(`{ __typename viewer { __typename clientId } userAccounts(first: 1) { totalCount } }`, "4", uint64(1))
	f.Add(`query A($x: Int = 1) { ...F } query B($x: Int = 2) { ...F } fragment F on Query { userAccounts(first: $x) { totalCount } }`, "5|6", uint64(2))
	f.Fuzz(func(t *testing.T, query, values string, spacing uint64) {
		if len(query) > 4096 {
			return
		}
		ctx := context.Background()
		tmpl, errs := parseValidate(query)
		if errs != nil {
			return
		}
		c := newShapeCache(nil, 10, 16<<20, 4<<20, MaxParseTokens)
		addTwice(c, query, tmpl)
		if got, ok := c.Get(ctx, query); !ok || got != tmpl {
			t.Fatalf("template not answered for its own text")
		}
		q2, ok := reshape(query, values, spacing)
		if !ok || q2 == query {
			return
		}
		got, hit := c.Get(ctx, q2)
		want, errs := parseValidate(q2)
		if !hit {
			return
		}
		if errs != nil {
			t.Fatalf("cache answered %q, which fails validation: %v", q2, errs)
		}
		if err := equalDocs(got, want); err != nil {
			t.Fatalf("%q: %v", q2, err)
		}
		if err := noSharedNodes(tmpl, got); err != nil {
			t.Fatalf("%q: %v", q2, err)
		}
	})
}

// reshape rewrites query with the same tokens, new literal values taken from values (equal
// literals get equal values) and whitespace chosen by spacing.
func reshape(query, values string, spacing uint64) (string, bool) {
	// The lexer counts runes; index their byte offsets.
	var offs []int
	for i := range query {
		offs = append(offs, i)
	}
	offs = append(offs, len(query))
	pieces := strings.Split(values, "|")
	seen := map[string]string{}
	seps := []string{" ", "\n", ", ", "\t  ", "\r\n  "}
	var b strings.Builder
	lx := lexer.New(&ast.Source{Input: query})
	for n := 0; ; n++ {
		tok, err := lx.ReadToken()
		if err != nil {
			return "", false
		}
		if tok.Kind == lexer.EOF {
			break
		}
		if n > 0 {
			b.WriteString(seps[spacing%uint64(len(seps))])
			spacing = spacing/uint64(len(seps)) ^ spacing<<7
		}
		text := query[offs[tok.Pos.Start]:offs[tok.Pos.End]]
		switch tok.Kind {
		case lexer.String, lexer.BlockString, lexer.Int, lexer.Float:
			k := fmt.Sprint(tok.Kind, ":", tok.Value)
			v, ok := seen[k]
			if !ok {
				v = newLiteral(tok.Kind, pieces[len(seen)%len(pieces)])
				seen[k] = v
			}
			text = v
		}
		b.WriteString(text)
	}
	return b.String(), true
}

func newLiteral(kind lexer.Type, piece string) string {
	h := fnv.New32a()
	h.Write([]byte(piece))
	n := int32(h.Sum32())
	switch kind {
	case lexer.String:
		if !utf8.ValidString(piece) {
			piece = strings.ToValidUTF8(piece, "?")
		}
		j, _ := json.Marshal(piece)
		return string(j)
	case lexer.BlockString:
		return `"""` + strings.NewReplacer(`"`, "", `\`, "").Replace(piece) + `"""`
	case lexer.Int:
		if piece == "big" {
			return "4294967296"
		}
		return fmt.Sprint(n % 1000)
	default:
		return fmt.Sprintf("%d.%de%d", n%100, uint32(n)%1000, n%5)
	}
}

// equalDocs compares two documents node by node; schema nodes must be the same pointers.
func equalDocs(got, want *ast.QueryDocument) error {
	return equalValues(reflect.ValueOf(got), reflect.ValueOf(want), "doc", map[[2]uintptr]bool{})
}

var schemaNode = map[reflect.Type]bool{
	reflect.TypeOf(&ast.Definition{}):          true,
	reflect.TypeOf(&ast.FieldDefinition{}):     true,
	reflect.TypeOf(&ast.DirectiveDefinition{}): true,
}

func equalValues(a, b reflect.Value, path string, seen map[[2]uintptr]bool) error {
	if a.Type() != b.Type() {
		return fmt.Errorf("%s: type %v != %v", path, a.Type(), b.Type())
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Errorf("%s: nil %v != %v", path, a.IsNil(), b.IsNil())
			}
			return nil
		}
		// The validator makes a FieldDefinition for every __typename field it walks: the copy
		// shares the template's, a fresh parse has its own. Those are compared by value.
		typename := a.Type() == reflect.TypeOf(&ast.FieldDefinition{}) && a.Elem().FieldByName("Name").String() == "__typename"
		if schemaNode[a.Type()] && !typename {
			if a.Pointer() != b.Pointer() {
				return fmt.Errorf("%s: different schema nodes", path)
			}
			return nil
		}
		if a.Type() == reflect.TypeOf(&ast.Source{}) {
			if a.Elem().Interface() != b.Elem().Interface() {
				return fmt.Errorf("%s: different sources", path)
			}
			return nil
		}
		k := [2]uintptr{a.Pointer(), b.Pointer()}
		if seen[k] {
			return nil
		}
		seen[k] = true
		return equalValues(a.Elem(), b.Elem(), path, seen)
	case reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Errorf("%s: nil interface", path)
			}
			return nil
		}
		return equalValues(a.Elem(), b.Elem(), path, seen)
	case reflect.Slice:
		if a.Len() != b.Len() {
			return fmt.Errorf("%s: len %d != %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if err := equalValues(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i), seen); err != nil {
				return err
			}
		}
		return nil
	case reflect.Struct:
		for i := range a.NumField() {
			if err := equalValues(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name, seen); err != nil {
				return err
			}
		}
		return nil
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Errorf("%s: %q != %q", path, a.String(), b.String())
		}
		return nil
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Errorf("%s: %v != %v", path, a.Bool(), b.Bool())
		}
		return nil
	case reflect.Int:
		if a.Int() != b.Int() {
			return fmt.Errorf("%s: %d != %d", path, a.Int(), b.Int())
		}
		return nil
	}
	return fmt.Errorf("%s: unexpected kind %v", path, a.Kind())
}

// noSharedNodes checks that the copy reaches no node of the template's document (schema
// nodes aside), so that requests never share what they may read while another is copying.
func noSharedNodes(tmpl, cp *ast.QueryDocument) error {
	inTemplate := map[uintptr]string{}
	walkNodes(reflect.ValueOf(tmpl), false, func(p uintptr, t reflect.Type) { inTemplate[p] = t.String() })
	var err error
	walkNodes(reflect.ValueOf(cp), true, func(p uintptr, t reflect.Type) {
		if _, ok := inTemplate[p]; ok && err == nil {
			err = fmt.Errorf("copy shares a %v with the template", t)
		}
	})
	return err
}

// walkNodes visits the document's nodes. Expected types are the schema's or a variable's type,
// which the walk reaches through the variable: they are visited only when expected is set.
func walkNodes(v reflect.Value, expected bool, visit func(uintptr, reflect.Type)) {
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value, field string)
	walk = func(v reflect.Value, field string) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || schemaNode[v.Type()] {
				return
			}
			if field == "ExpectedType" {
				if expected {
					visit(v.Pointer(), v.Type())
				}
				return
			}
			visit(v.Pointer(), v.Type())
			if seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem(), "")
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), "")
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i), "")
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i), v.Type().Field(i).Name)
			}
		}
	}
	walk(v, "")
}
