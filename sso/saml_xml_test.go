package sso

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"os"
	"testing"
)

// The shortcut of the round-trip validation (comesBackUnchanged) against the round trip itself.

// rawTokens returns the tokens of doc as checkXML's decoder reads them, copied, up to the first
// error.
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
	for _, name := range []string{"plain", "encrypted"} {
		raw, err := os.ReadFile("testdata/FuzzCheckXML-" + name + ".xml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
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
// ones it must not take include every way found to make a token of a plain-looking document
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
	{doc: `&unknown; &#12 x`, shortcut: true}, // left as they are by the non-strict decoder
	{doc: `<![CDATA[]]>`, fails: true},        // empty text: nothing comes back
	{doc: `<a:1b>`, fails: true},              // the local name alone is not a name
	{doc: `</a:1b>`, fails: true},
	{doc: "<a b=c d>", shortcut: true}, // unquoted values, and a value left out (the non-strict decoder's)
	{doc: `<a :b="1">`},                // a colon in the local name
	{doc: `<a x:b="1">`},               // another prefix: the slow path decides
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
	raw, err := os.ReadFile("testdata/FuzzCheckXML-plain.xml")
	if err != nil {
		t.Fatal(err)
	}
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
