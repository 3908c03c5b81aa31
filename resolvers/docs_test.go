package resolvers_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// docOperations finds the GraphQL operations a user is told to send: the README's gql '…'
// commands, ```graphql blocks, "# GraphQL: …" comments in shell blocks, and operations written
// inline in backquotes. Several operations of one block are split at each line that starts one.
var (
	docGQLCommand = regexp.MustCompile(`(?s)gql '(.*?)'`)
	docGQLBlock   = regexp.MustCompile("(?s)```graphql\n(.*?)```")
	docGQLComment = regexp.MustCompile(`(?m)# GraphQL: (.*)$`)
	docGQLInline  = regexp.MustCompile("`((?:mutation|query)\\b[^`]*\\{[^`]*\\}|\\{ *[a-zA-Z]+[^`]*\\{[^`]*\\} *\\})`")
	docGQLOpStart = regexp.MustCompile(`(?m)^(?:mutation|query)\b|^\{`)
	// An elided selection ("{ … }") is an outline, not an operation to send.
	docGQLElided = regexp.MustCompile(`\{ *… *\}`)
)

func docOperations(text string) []string {
	var snippets []string
	for _, re := range []*regexp.Regexp{docGQLCommand, docGQLBlock, docGQLComment, docGQLInline} {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			snippets = append(snippets, m[1])
		}
	}
	var ops []string
	for _, s := range snippets {
		if docGQLElided.MatchString(s) {
			continue
		}
		starts := docGQLOpStart.FindAllStringIndex(s, -1)
		if len(starts) < 2 {
			ops = append(ops, s)
			continue
		}
		for i, st := range starts {
			end := len(s)
			if i+1 < len(starts) {
				end = starts[i+1][0]
			}
			ops = append(ops, s[st[0]:end])
		}
	}
	return ops
}

// Every GraphQL operation in README.md and docs/ is valid against schema.graphqls: its fields,
// arguments, input fields and enum values exist, so a user who pastes one does not get
// GRAPHQL_VALIDATION_FAILED.
func TestDocsGraphQLOperationsMatchSchema(t *testing.T) {
	sdl, err := os.ReadFile("../schema.graphqls")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(sdl)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../README.md")
	total := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range docOperations(string(b)) {
			total++
			if _, errs := gqlparser.LoadQuery(schema, op); len(errs) > 0 {
				t.Errorf("%s: %s\n%v", strings.TrimPrefix(f, "../"), op, errs)
			}
		}
	}
	// The README's walk-throughs alone have ten; far fewer means the patterns broke.
	if total < 20 {
		t.Fatalf("found only %d operations in the docs", total)
	}
}
