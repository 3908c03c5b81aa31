package sso

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/beevik/etree"
)

// The shortcut of the round-trip validation (comesBackUnchanged) against the round trip itself.

// rawTokens returns the tokens of doc as the validator's lenient decoder reads them, copied, up
// to the first error: the tokens of checkXML's strict decoder wherever that one reads, and
// those of what only the lenient one reads (an undefined entity, an unquoted value), which the
// shortcut must get right all the same.
func rawTokens(doc []byte) []xml.Token {
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = false
	d.CharsetReader = passThrough
	var toks []xml.Token
	for len(toks) < 10_000 {
		tok, err := d.RawToken()
		if err != nil {
			break
		}
		toks = append(toks, xml.CopyToken(tok))
	}
	return toks
}

func newRoundTrip() *roundTrip {
	var rt roundTrip
	rt.w = bufio.NewWriter(&rt.buf)
	return &rt
}

// FuzzRoundTripShortcut holds comesBackUnchanged to the round trip: every token it lets
// through, of any document, comes back unchanged from encoding/xml's encoder and decoder.
func FuzzRoundTripShortcut(f *testing.F) {
	for _, name := range savedResponseNames {
		f.Add(savedResponse(f, name))
	}
	for _, c := range roundTripCases {
		f.Add([]byte(c.doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		rt := newRoundTrip()
		for _, tok := range rawTokens(doc) {
			if comesBackUnchanged(tok) {
				if err := rt.encodeAndDecode(tok); err != nil {
					t.Fatalf("%#v taken as unchanged, but: %v", tok, err)
				}
			}
		}
	})
}

// roundTripCases are documents whose first token the shortcut must or must not take. The
// ones that fail include every way found to make a token of a plain-looking document
// fail the round trip.
var roundTripCases = []struct {
	doc      string
	shortcut bool // the first token is taken by the shortcut
	fails    bool // the first token fails the round trip
}{
	{doc: `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0">`, shortcut: true},
	{doc: `<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1">`, shortcut: true},
	{doc: `<a xmlns:x="u" b="1" xmlns:y="v" c="&#x9;&#xD;&#xA;&lt;&quot;'">`, shortcut: true},
	{doc: `<a b="` + "\u00e9\ufffd\U0001F600" + `">`, shortcut: true},
	{doc: `</saml:Assertion>`, shortcut: true},
	{doc: "text &amp; \r\n more", shortcut: true},
	{doc: `<![CDATA[<x> ]]]]>`, shortcut: true},
	{doc: `&unknown; &#12 x`, shortcut: true}, // left as they are by the lenient decoder (checkXML's refuses them)
	{doc: `<![CDATA[]]>`, fails: true},        // empty text: nothing comes back
	{doc: `<a:1b>`, fails: true},              // the local name alone is not a name
	{doc: `</a:1b>`, fails: true},
	{doc: "<a b=c d>", shortcut: true}, // unquoted values, and a value left out (the lenient decoder's)
	// Another prefix beside a declaration of the prefix xmlns: the encoder's declarations
	// interleave and the comparison removes the wrong one.
	{doc: `<e xmlns:xmlns="v" x:a="v">`, fails: true},
	{doc: `<a :b="1">`},  // a colon in the local name
	{doc: `<a x:b="1">`}, // another prefix: the slow path decides
	{doc: `<a xsi:type="xs:string" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`},
	{doc: "<\u00e9l>"},
	{doc: `<!-- c -->`},
	{doc: `<?xml version="1.0"?>`},
}

func TestRoundTripShortcut(t *testing.T) {
	rt := newRoundTrip()
	for _, c := range roundTripCases {
		toks := rawTokens([]byte(c.doc))
		if len(toks) == 0 {
			t.Fatalf("%q: no token", c.doc)
		}
		tok := toks[0]
		if got := comesBackUnchanged(tok); got != c.shortcut {
			t.Errorf("%q: shortcut %v, want %v", c.doc, got, c.shortcut)
		}
		if err := rt.encodeAndDecode(tok); (err != nil) != c.fails {
			t.Errorf("%q: round trip: %v, want failure %v", c.doc, err, c.fails)
		}
	}
	// A real response takes the shortcut for most of its tokens.
	raw := savedResponse(t, "plain")
	toks, short := rawTokens(raw), 0
	for _, tok := range toks {
		if comesBackUnchanged(tok) {
			short++
		}
	}
	if short*10 < len(toks)*9 {
		t.Errorf("the shortcut takes %d of a response's %d tokens", short, len(toks))
	}
	t.Logf("the shortcut takes %d of a response's %d tokens", short, len(toks))
}

// TestRoundTripShortcutExhaustively runs through the round trip every start tag the shortcut
// takes of a family built to hit the encoder's naming of prefixes: element prefixes that
// collide with the one it invents for xmlns declarations (_xmlns), up to three attributes,
// unprefixed or declarations, named like those prefixes, with every character the encoder
// escapes in their values. The fuzzer rarely finds such names; this holds the shortcut when
// encoding/xml changes.
func TestRoundTripShortcutExhaustively(t *testing.T) {
	var attrs []xml.Attr
	for _, space := range []string{"", "xmlns"} {
		for _, local := range []string{"a", "x", "xmlns", "_xmlns", "xml", "_xmlns_1"} {
			attrs = append(attrs, xml.Attr{Name: xml.Name{Space: space, Local: local}, Value: "v&<>\"'\t\n\r\u00e9"})
		}
	}
	var lists [][]xml.Attr
	var grow func(prefix []xml.Attr)
	grow = func(prefix []xml.Attr) {
		lists = append(lists, prefix)
		if len(prefix) == 3 {
			return
		}
		for _, a := range attrs {
			grow(append(append([]xml.Attr(nil), prefix...), a))
		}
	}
	grow(nil)
	rt, tried := newRoundTrip(), 0
	for _, space := range []string{"", "x", "xmlns", "_xmlns", "xml"} {
		for _, local := range []string{"a", "xmlns"} {
			for _, list := range lists {
				tok := xml.StartElement{Name: xml.Name{Space: space, Local: local}, Attr: list}
				if !comesBackUnchanged(tok) {
					t.Fatalf("%v: not taken", tok)
				}
				if err := rt.encodeAndDecode(tok); err != nil {
					t.Fatalf("%v: %v", tok, err)
				}
				tried++
			}
		}
	}
	if tried < 10_000 {
		t.Fatalf("only %d tags", tried)
	}
}

// readXML's tree (treeBuilder) against etree's reader.

// sameTree reports where got, built by readXML, differs from want, read by etree.
func sameTree(got, want etree.Token, path string) string {
	if reflect.TypeOf(got) != reflect.TypeOf(want) {
		return fmt.Sprintf("%s: %T, want %T", path, got, want)
	}
	if got.Index() != want.Index() {
		return fmt.Sprintf("%s: index %d, want %d", path, got.Index(), want.Index())
	}
	switch w := want.(type) {
	case *etree.Element:
		g := got.(*etree.Element)
		if g.Space != w.Space || g.Tag != w.Tag || len(g.Attr) != len(w.Attr) || len(g.Child) != len(w.Child) {
			return fmt.Sprintf("%s: <%s:%s> %d attributes %d children, want <%s:%s> %d %d",
				path, g.Space, g.Tag, len(g.Attr), len(g.Child), w.Space, w.Tag, len(w.Attr), len(w.Child))
		}
		for i := range w.Attr {
			ga, wa := g.Attr[i], w.Attr[i]
			if ga.Space != wa.Space || ga.Key != wa.Key || ga.Value != wa.Value || ga.Element() != g || ga.NamespaceURI() != wa.NamespaceURI() {
				return fmt.Sprintf("%s: attribute %d %+v, want %+v", path, i, ga, wa)
			}
		}
		if g.NamespaceURI() != w.NamespaceURI() {
			return fmt.Sprintf("%s: namespace %q, want %q", path, g.NamespaceURI(), w.NamespaceURI())
		}
		for i := range w.Child {
			if got.(*etree.Element).Child[i].Parent() != g {
				return fmt.Sprintf("%s/%d: not the child of its parent", path, i)
			}
			if d := sameTree(g.Child[i], w.Child[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
				return d
			}
		}
	case *etree.CharData:
		g := got.(*etree.CharData)
		if g.Data != w.Data || g.IsWhitespace() != w.IsWhitespace() || g.IsCData() != w.IsCData() {
			return fmt.Sprintf("%s: text %q (whitespace %v), want %q (%v)", path, g.Data, g.IsWhitespace(), w.Data, w.IsWhitespace())
		}
	case *etree.Comment:
		if got.(*etree.Comment).Data != w.Data {
			return path + ": comment"
		}
	case *etree.Directive:
		if got.(*etree.Directive).Data != w.Data {
			return path + ": directive"
		}
	case *etree.ProcInst:
		if g := got.(*etree.ProcInst); g.Target != w.Target || g.Inst != w.Inst {
			return path + ": processing instruction"
		}
	}
	return ""
}

// readXMLAsEtree fails t when readXML accepts doc and builds another tree than etree's reader;
// it reports whether readXML accepted it.
func readXMLAsEtree(t *testing.T, doc []byte) bool {
	t.Helper()
	got, _, err := readXML(doc)
	if err != nil {
		return false
	}
	want := etree.NewDocument()
	if werr := want.ReadFromBytes(doc); werr != nil {
		t.Fatalf("readXML accepted what etree refuses (%v):\n%q", werr, doc)
	}
	if d := sameTree(&got.Element, &want.Element, "doc"); d != "" {
		t.Fatalf("%s\n%q", d, doc)
	}
	gs, _ := got.WriteToString()
	ws, _ := want.WriteToString()
	if gs != ws {
		t.Fatalf("written: %q\nwant %q", gs, ws)
	}
	return true
}

// treeCases are documents where the tree could differ from etree's.
var treeCases = []string{
	`<:a :b="1" c:="2"><d:/></:a>`, // colons at either end of a name
	"\ufeff<?xml version=\"1.0\"?>\n<!DOCTYPE a>\n<!-- c --><a> <b>\n\t</b>x<![CDATA[ ]]><![CDATA[y]]><?p i?><!--d--></a>\r\n",
	`<x:a xmlns:x="urn:x" xmlns="urn:d"><x:b x:c="1" xmlns:x="urn:y"><c/></x:b></x:a>`,
}

func TestReadXMLIsEtree(t *testing.T) {
	for _, name := range savedResponseNames {
		raw := savedResponse(t, name)
		if !readXMLAsEtree(t, raw) {
			t.Fatalf("%s: refused", name)
		}
	}
	for _, doc := range treeCases {
		if !readXMLAsEtree(t, []byte(doc)) {
			t.Fatalf("refused: %q", doc)
		}
	}
	// An attribute repeated on an element is not well-formed: etree reads it (the last
	// value), readXML refuses it, as it refuses a rebound xml prefix, which etree honours.
	for _, doc := range []string{`<a b="1" c="2" b="3"/>`, `<a b="1" xmlns:x="u" x:b="4" x:b="5"/>`,
		`<a xmlns:xml="urn:x"><xml:b/></a>`} {
		if err := etree.NewDocument().ReadFromBytes([]byte(doc)); err != nil {
			t.Fatalf("etree refuses %q: %v", doc, err)
		}
		if _, _, err := readXML([]byte(doc)); !errors.Is(err, errRefused) {
			t.Errorf("%q: %v, want a refusal", doc, err)
		}
	}
	// What etree's reader refuses, readXML refuses: it reads as strictly.
	for _, doc := range []string{`<a>&e;</a>`, `<a b=c/>`, `<a b/>`, `<a>&#0;</a>`} {
		if err := etree.NewDocument().ReadFromBytes([]byte(doc)); err == nil {
			t.Fatalf("etree reads %q", doc)
		}
		_, _, err := readXML([]byte(doc))
		// The validator refuses the last one too; the others only checkXML's strictness does.
		if err == nil || errors.Is(err, errRefused) != (doc != `<a>&#0;</a>`) {
			t.Errorf("%q: %v, want a refusal", doc, err)
		}
	}
}

// FuzzReadXML holds readXML's tree to etree's reader on every document readXML accepts.
func FuzzReadXML(f *testing.F) {
	for _, name := range savedResponseNames {
		f.Add(savedResponse(f, name))
	}
	for _, doc := range treeCases {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) { readXMLAsEtree(t, doc) })
}
