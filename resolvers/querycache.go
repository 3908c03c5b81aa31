package resolvers

import (
	"context"
	"hash/maphash"
	"sort"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/lexer"

	"gatehouse/cache"
)

// IdP scripts send every binding with its values inline, so no two query texts are equal and a
// cache keyed by the text never hits: every request paid for parsing and validation. shapeCache
// keys a document by its tokens with the literal values (strings, block strings, ints, floats)
// replaced by placeholders. It keeps a document of each shape that gqlgen parsed and validated
// (the template), from the shape's second request on (see seen), and answers later requests of
// that shape with a deep copy of it carrying the request's own values and positions. gqlgen then skips parsing and validation; complexity
// (an operation context mutator) and the depth limit still run on every request's copy.
//
// A substituted value must not be able to change the outcome of validation. Validation looks at
// a literal's kind, never at its text, with two exceptions, and the key covers both:
//   - ValuesOfCorrectType refuses ints that don't fit (and floats that don't parse): only ints
//     that fit 32 bits and floats that parse become placeholders, others stay in the key.
//   - OverlappingFieldsCanBeMerged compares argument values of fields with the same response
//     name: the key records which placeholders are equal to an earlier one (same kind and value).
//
// Enum values, booleans, null, variables and names stay in the key. Documents with comments or
// that the template check refuses (a placeholder that isn't a value, such as an operation
// description) are cached by their exact text instead, as before, when they are small.
type shapeCache struct {
	// docs holds the templates and exact-text documents by key, least recently used evicted
	// first, within a bound on entries and on their estimated bytes.
	docs      *cache.Cache[string, *cacheEntry]
	maxEntry  int // estimated bytes of one entry
	maxTokens int // documents with more tokens are not looked at (gqlgen refuses them)
	// seen holds the hashes of shapes added once: a shape is kept the second time gqlgen adds
	// it, so that one-off documents (a script's 100 aliases numbered on from the last request)
	// cost no copy and displace no template.
	seen     *cache.Cache[uint64, struct{}]
	seenSeed maphash.Seed
}

const maxSeenShapes = 4096

// cacheEntry is a template (normalised key) or an exact-text document.
type cacheEntry struct {
	key  string
	cost int
	doc  *ast.QueryDocument
	src  string // the text doc was parsed from
	// starts holds the rune offset of every token of src, in order: a node's position in doc
	// is the start of one of them, which gives the token's index in any text of this shape.
	starts []int
	exact  bool
}

// Estimates of what a cached document holds, used to bound the cache's memory: the parsed and
// validated AST of a 100-alias binding document (3,903 tokens) holds about 90 bytes per token
// of live heap; 250 leaves room for documents with more nodes per token.
const (
	astBytesPerToken  = 250
	exactKeyPrefix    = "\xff" // never the first byte of a normalised key (a token kind)
	exactMaxQueryByte = maxCachedQueryBytes
)

func newShapeCache(g *cache.Group, maxEntries, maxCost, maxEntry, maxTokens int) *shapeCache {
	return &shapeCache{docs: cache.New[string, *cacheEntry](g, "graphql_documents", cache.Options{MaxEntries: maxEntries, MaxCost: maxCost}),
		maxEntry: maxEntry, maxTokens: maxTokens, seenSeed: maphash.MakeSeed(),
		seen: cache.New[uint64, struct{}](g, "graphql_shapes_seen", cache.Options{MaxEntries: maxSeenShapes})}
}

// Get returns the cached document of query's shape, with query's values and positions.
func (c *shapeCache) Get(_ context.Context, query string) (*ast.QueryDocument, bool) {
	sh, ok := lexShape(query, c.maxTokens)
	if ok {
		if e := c.lookup(string(sh.key)); e != nil {
			if e.src == query {
				return e.doc, true // same text: the template itself, shared read-only as before
			}
			if doc, ok := instantiate(e, sh); ok {
				return doc, true
			}
		}
	}
	if len(query) > exactMaxQueryByte {
		return nil, false
	}
	if e := c.lookup(exactKeyPrefix + query); e != nil {
		return e.doc, true
	}
	return nil, false
}

// Add keeps doc, which gqlgen has just parsed from query and validated.
func (c *shapeCache) Add(_ context.Context, query string, doc *ast.QueryDocument) {
	sh, ok := lexShape(query, c.maxTokens)
	if ok && !c.secondSighting(sh.key) {
		return
	}
	if ok {
		e := &cacheEntry{key: string(sh.key), doc: doc, src: query, starts: make([]int, len(sh.pos))}
		for i := range sh.pos {
			e.starts[i] = sh.pos[i].Start
		}
		e.cost = 2*len(query) + len(e.key) + len(sh.pos)*(astBytesPerToken+8)
		// The template must map onto its own text exactly: every position a token's, every
		// placeholder a literal value of the same kind.
		if e.cost <= c.maxEntry && checkTemplate(e, sh) {
			c.insert(e)
			return
		}
	}
	if cost := 2*len(query) + len(query)/4*astBytesPerToken; len(query) <= exactMaxQueryByte && cost <= c.maxEntry {
		c.insert(&cacheEntry{key: exactKeyPrefix + query, doc: doc, src: query, exact: true, cost: cost})
	}
}

// secondSighting reports whether key was added before, and remembers it otherwise.
func (c *shapeCache) secondSighting(key []byte) bool {
	h := maphash.Bytes(c.seenSeed, key)
	if _, ok := c.seen.Get(h); ok {
		c.seen.Delete(h)
		return true
	}
	c.seen.Set(h, struct{}{})
	return false
}

func (c *shapeCache) lookup(key string) *cacheEntry {
	e, _ := c.docs.Get(key)
	return e
}

// insert keeps e unless another request of the same shape got here first.
func (c *shapeCache) insert(e *cacheEntry) { c.docs.Add(e.key, e, e.cost) }

// shape is one query text read by the lexer: its key, the position of every token, and the
// value of every placeholder token.
type shape struct {
	key  []byte
	pos  []ast.Position // Src is the request's source
	vals []string       // per token; set for placeholders only
	lit  []bool         // per token: a placeholder
	kind []lexer.Type   // per token
	n    int            // placeholders
}

// lexShape reads query into its shape. It fails on documents the cache leaves to gqlgen: lexer
// errors, comments, more than maxTokens tokens.
func lexShape(query string, maxTokens int) (*shape, bool) {
	src := &ast.Source{Input: query}
	lx := lexer.New(src)
	sh := &shape{key: make([]byte, 0, len(query)/2+16)}
	type class struct {
		kind lexer.Type
		val  string
	}
	var classes []class // distinct placeholder values, in order of first appearance
	var index map[class]int
	for {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.Comment || tok.Kind == lexer.Invalid {
			return nil, false
		}
		if tok.Kind == lexer.EOF {
			break
		}
		if len(sh.pos) >= maxTokens {
			return nil, false
		}
		sh.pos = append(sh.pos, tok.Pos)
		sh.kind = append(sh.kind, tok.Kind)
		sh.key = append(sh.key, byte(tok.Kind))
		placeholder := false
		switch tok.Kind {
		case lexer.String, lexer.BlockString:
			placeholder = true
		case lexer.Int:
			_, err := strconv.ParseInt(tok.Value, 10, 32)
			placeholder = err == nil
		case lexer.Float:
			_, err := strconv.ParseFloat(tok.Value, 64)
			placeholder = err == nil
		}
		if !placeholder {
			sh.vals = append(sh.vals, "")
			sh.lit = append(sh.lit, false)
			if tok.Kind == lexer.Name || tok.Kind == lexer.Int || tok.Kind == lexer.Float {
				sh.key = append(sh.key, tok.Value...) // names and numbers hold no 0 byte
				sh.key = append(sh.key, 0)
			}
			continue
		}
		sh.vals = append(sh.vals, tok.Value)
		sh.lit = append(sh.lit, true)
		sh.n++
		// Equal placeholders share a class number, so that the key records which values are
		// equal (field merging compares them) and nothing else about them.
		cl := class{tok.Kind, tok.Value}
		id := -1
		if index != nil {
			if i, ok := index[cl]; ok {
				id = i
			}
		} else {
			for i, x := range classes {
				if x == cl {
					id = i
					break
				}
			}
		}
		if id < 0 {
			id = len(classes)
			classes = append(classes, cl)
			if index != nil {
				index[cl] = id
			} else if len(classes) > 16 {
				index = make(map[class]int, 64)
				for i, x := range classes {
					index[x] = i
				}
			}
		}
		sh.key = append(sh.key, '#')
		sh.key = strconv.AppendInt(sh.key, int64(id), 10)
		sh.key = append(sh.key, 0)
	}
	return sh, true
}

// checkTemplate reports whether copying e's document with its own shape reproduces every
// position and covers every placeholder with a literal value of the same kind.
func checkTemplate(e *cacheEntry, sh *shape) bool {
	_, ok := instantiate(e, sh)
	return ok
}

// instantiate deep-copies e's document with sh's values and positions. The copy shares only
// schema nodes with the template, which stays read-only.
func instantiate(e *cacheEntry, sh *shape) (*ast.QueryDocument, bool) {
	if len(sh.pos) != len(e.starts) {
		return nil, false
	}
	c := copier{e: e, sh: sh}
	doc := &ast.QueryDocument{Position: c.position(e.doc.Position)}
	for _, op := range e.doc.Operations {
		doc.Operations = append(doc.Operations, c.operation(op))
	}
	for _, f := range e.doc.Fragments {
		doc.Fragments = append(doc.Fragments, c.fragment(f))
	}
	if e.doc.Comment != nil || c.failed || c.substituted != sh.n {
		return nil, false
	}
	return doc, true
}

type copier struct {
	e           *cacheEntry
	sh          *shape
	failed      bool
	substituted int
	vars        map[*ast.VariableDefinition]*ast.VariableDefinition
	frags       map[*ast.FragmentDefinition]*ast.FragmentDefinition
	types       map[*ast.Type]*ast.Type
}

// token returns the index of the token at p in the template's text, or -1.
func (c *copier) token(p *ast.Position) int {
	if p == nil {
		return -1
	}
	i := sort.SearchInts(c.e.starts, p.Start)
	if i == len(c.e.starts) || c.e.starts[i] != p.Start {
		return -1
	}
	return i
}

func (c *copier) position(p *ast.Position) *ast.Position {
	if p == nil {
		return nil
	}
	i := c.token(p)
	if i < 0 {
		c.failed = true
		return nil
	}
	return &c.sh.pos[i]
}

func (c *copier) comment(g *ast.CommentGroup) *ast.CommentGroup {
	if g != nil && len(g.List) > 0 {
		c.failed = true // documents with comments are never templates
	}
	return nil
}

func (c *copier) operation(op *ast.OperationDefinition) *ast.OperationDefinition {
	n := &ast.OperationDefinition{Description: op.Description, Operation: op.Operation, Name: op.Name,
		Position: c.position(op.Position), Comment: c.comment(op.Comment)}
	n.VariableDefinitions = c.varDefs(op.VariableDefinitions)
	n.Directives = c.directives(op.Directives)
	n.SelectionSet = c.selections(op.SelectionSet)
	return n
}

func (c *copier) varDefs(list ast.VariableDefinitionList) ast.VariableDefinitionList {
	if list == nil {
		return nil
	}
	out := make(ast.VariableDefinitionList, len(list))
	for i, v := range list {
		out[i] = c.varDef(v)
	}
	return out
}

func (c *copier) varDef(v *ast.VariableDefinition) *ast.VariableDefinition {
	if n, ok := c.vars[v]; ok {
		return n
	}
	if c.vars == nil {
		c.vars = make(map[*ast.VariableDefinition]*ast.VariableDefinition)
	}
	n := &ast.VariableDefinition{Description: v.Description, Variable: v.Variable,
		Position: c.position(v.Position), Comment: c.comment(v.Comment), Definition: v.Definition, Used: v.Used}
	c.vars[v] = n
	n.Type = c.docType(v.Type) // before the default value, whose expected type it is
	n.DefaultValue = c.value(v.DefaultValue)
	n.Directives = c.directives(v.Directives)
	return n
}

// docType copies a type written in the document (a variable's), remembering it and its
// element types so that values expecting them point at the copies.
func (c *copier) docType(t *ast.Type) *ast.Type {
	if t == nil {
		return nil
	}
	if c.types == nil {
		c.types = make(map[*ast.Type]*ast.Type)
	}
	n := &ast.Type{NamedType: t.NamedType, NonNull: t.NonNull, Position: c.position(t.Position)}
	c.types[t] = n
	n.Elem = c.docType(t.Elem)
	return n
}

func (c *copier) fragment(f *ast.FragmentDefinition) *ast.FragmentDefinition {
	if n, ok := c.frags[f]; ok {
		return n
	}
	if c.frags == nil {
		c.frags = make(map[*ast.FragmentDefinition]*ast.FragmentDefinition)
	}
	n := &ast.FragmentDefinition{Description: f.Description, Name: f.Name, TypeCondition: f.TypeCondition,
		Definition: f.Definition, Position: c.position(f.Position), Comment: c.comment(f.Comment)}
	c.frags[f] = n
	n.VariableDefinition = c.varDefs(f.VariableDefinition)
	n.Directives = c.directives(f.Directives)
	n.SelectionSet = c.selections(f.SelectionSet)
	return n
}

func (c *copier) selections(set ast.SelectionSet) ast.SelectionSet {
	if set == nil {
		return nil
	}
	out := make(ast.SelectionSet, len(set))
	for i, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			out[i] = &ast.Field{Alias: s.Alias, Name: s.Name, Arguments: c.arguments(s.Arguments),
				Directives: c.directives(s.Directives), SelectionSet: c.selections(s.SelectionSet),
				Position: c.position(s.Position), Comment: c.comment(s.Comment),
				Definition: s.Definition, ObjectDefinition: s.ObjectDefinition}
		case *ast.FragmentSpread:
			n := &ast.FragmentSpread{Name: s.Name, Directives: c.directives(s.Directives),
				ObjectDefinition: s.ObjectDefinition, Position: c.position(s.Position), Comment: c.comment(s.Comment)}
			if s.Definition != nil {
				n.Definition = c.fragment(s.Definition)
			}
			out[i] = n
		case *ast.InlineFragment:
			out[i] = &ast.InlineFragment{TypeCondition: s.TypeCondition, Directives: c.directives(s.Directives),
				SelectionSet: c.selections(s.SelectionSet), ObjectDefinition: s.ObjectDefinition,
				Position: c.position(s.Position), Comment: c.comment(s.Comment)}
		default:
			c.failed = true
		}
	}
	return out
}

func (c *copier) arguments(list ast.ArgumentList) ast.ArgumentList {
	if list == nil {
		return nil
	}
	out := make(ast.ArgumentList, len(list))
	for i, a := range list {
		out[i] = &ast.Argument{Name: a.Name, Value: c.value(a.Value), Position: c.position(a.Position),
			Comment: c.comment(a.Comment)}
	}
	return out
}

func (c *copier) directives(list ast.DirectiveList) ast.DirectiveList {
	if list == nil {
		return nil
	}
	out := make(ast.DirectiveList, len(list))
	for i, d := range list {
		out[i] = &ast.Directive{Name: d.Name, Arguments: c.arguments(d.Arguments), Position: c.position(d.Position),
			ParentDefinition: d.ParentDefinition, Definition: d.Definition, Location: d.Location}
	}
	return out
}

// valueToken is the token kind a literal value is written with.
var valueToken = map[ast.ValueKind]lexer.Type{
	ast.IntValue: lexer.Int, ast.FloatValue: lexer.Float, ast.StringValue: lexer.String, ast.BlockValue: lexer.BlockString,
}

func (c *copier) value(v *ast.Value) *ast.Value {
	if v == nil {
		return nil
	}
	n := &ast.Value{Raw: v.Raw, Kind: v.Kind, Position: c.position(v.Position), Comment: c.comment(v.Comment),
		Definition: v.Definition, ExpectedType: v.ExpectedType, ExpectedTypeHasDefault: v.ExpectedTypeHasDefault}
	if t, ok := c.types[v.ExpectedType]; ok {
		n.ExpectedType = t // a variable's type; other expected types are the schema's
	}
	if v.VariableDefinition != nil {
		n.VariableDefinition = c.varDef(v.VariableDefinition)
	}
	if kind, ok := valueToken[v.Kind]; ok {
		if i := c.token(v.Position); i >= 0 && c.sh.lit[i] {
			if c.sh.kind[i] != kind {
				c.failed = true
			}
			n.Raw = c.sh.vals[i]
			c.substituted++
		}
	}
	if v.Children != nil {
		n.Children = make(ast.ChildValueList, len(v.Children))
		for i, ch := range v.Children {
			n.Children[i] = &ast.ChildValue{Name: ch.Name, Value: c.value(ch.Value), Position: c.position(ch.Position),
				Comment: c.comment(ch.Comment)}
		}
	}
	return n
}
