package sso

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// Limits of checkXML. A response of any IdP is a few levels deep (Response, Assertion,
// Signature, SignedInfo, Reference, Transforms, Transform, InclusiveNamespaces: 8; an
// EncryptedAssertion's EncryptedKey's certificate: 8) and holds tens of elements, a few hundred
// with a long list of groups, each with up to three attributes (an AttributeValue's xsi:type
// and its two namespace declarations). Within the limits the rest of the check costs at most
// about ten times a real response's (bench/README.md).
const (
	maxResponseDepth      = 32
	maxResponseElements   = 2_000
	maxResponseAttributes = 3 * maxResponseElements // namespace declarations included
	// maxResponseTokens bounds what is not an element too: text, comments, processing
	// instructions cost the parsers after the scan as much as a tag does.
	maxResponseTokens = 4 * maxResponseElements
	// maxEncryptedKeys: crewjam decrypts the first EncryptedKey of the one EncryptedAssertion
	// and no other; an IdP that encrypts the key to several recipients sends one per key.
	maxEncryptedKeys = 2
	// maxNamespacesInScope bounds the namespace declarations of an element and its ancestors
	// together. The signature check (goxmldsig's etreeutils) copies the prefixes in scope at
	// every element it walks and canonicalises, so its cost grows with elements × declarations
	// in scope: 2,000 elements under 6,000 declarations cost a second. A real response has a
	// handful in scope (Response, Assertion, Signature, and an AttributeValue's xs and xsi),
	// however many it has in all.
	maxNamespacesInScope = 64
	// maxSignatures: the Response's and the Assertion's. goxmldsig detaches, serialises and
	// unmarshals every Signature under the element it checks, not only its own.
	maxSignatures = 2
	// maxElementAttributes bounds the attributes of one element, which the tree's building
	// compares with each other (treeBuilder): a real element has a few, and a root with every
	// namespace declaration maxNamespacesInScope allows has fewer than this.
	maxElementAttributes = 128
)

const xmlencNS = "http://www.w3.org/2001/04/xmlenc#"

// responseShape is what checkXML found in a document it let through.
type responseShape struct {
	assertions, encryptedAssertions int // by local name, anywhere in the document
	encryptedKeys                   int // by local name, anywhere in the document
}

// errRefused marks checkXML's refusals of a document the round-trip validator would let
// through: past a limit, not one root, unclosed or mismatched.
var errRefused = errors.New("response refused")

// checkXML is the ACS's one pass over a decoded response, and over an encrypted assertion's
// plaintext, before anything reads it further or decrypts it: the XML round-trip validation
// crewjam/saml runs on every response, the limits that bound what the rest of the check costs,
// and the building of the etree document the signature check reads (readXML returns it). All
// three take the same tokens of one encoding/xml decoder.
//
// The validation is github.com/mattermost/xml-roundtrip-validator's Validate (v0.1.0): every
// token of the document must come back unchanged from encoding/xml's encoder and decoder, so
// that the signature checker and the unmarshaller cannot read two different documents. The
// decoder, its settings and the comparison are the validator's (tokenEquals and
// fixNamespacePrefixes below are its code, Apache-2.0); what changes is the cost. Validate
// reads the input a byte at a time through a tee into a copy, and CheckToken allocates a 4 KiB
// encoder buffer per token: 8 KB of reads and some 700 KB of allocation for a 4 KB response,
// 40 % of its check. Here the decoder reads the bytes in place and one buffer serves every
// token. FuzzCheckXML holds it to Validate: it accepts nothing Validate refuses, and refuses
// what Validate accepts only with errRefused.
//
// The decoder is strict, as etree's own is: a document it refuses (an undefined entity, an
// unquoted attribute value) that the validator's lenient decoder would let through, etree
// refused next; checkXML refuses it with errRefused (strictOnly).
//
// The limits: what checkXML refuses would otherwise go through etree, crewjam's several
// parses and an RSA decryption per EncryptedAssertion and SP key: a deep or wide document of
// the form's 256 KiB cost a second or more of CPU, where a real response costs a few
// milliseconds. It refuses a document deeper than maxResponseDepth, or with more elements,
// attributes or tokens than maxResponseElements, maxResponseAttributes, maxResponseTokens
// (each counted before its token is validated), or an element with more than
// maxElementAttributes attributes; one with no or several root elements, text
// outside its root, an element left open or closed by another's end tag; one with more than
// maxNamespacesInScope namespace declarations on an element and its ancestors, more than
// maxSignatures Signatures or maxEncryptedKeys EncryptedKeys; and one with more than one
// Assertion and EncryptedAssertion in all, wherever they are (an Advice's too). Gatehouse
// accepts exactly one assertion: crewjam, which returns the first valid one of several, would
// otherwise check (and decrypt) each of them. The validator's decoder resolves no namespaces, so the elements are counted
// by their local name, whatever their namespace: counting more can only refuse more.
func checkXML(raw []byte) (responseShape, error) {
	_, shape, err := readXML(raw)
	return shape, err
}

// xmlNamespace is the namespace the prefix xml is bound to.
const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// repeatedAttribute finds an attribute name written twice among attrs (at most
// maxElementAttributes: pairwise for the few of a real element, a set beyond).
func repeatedAttribute(attrs []xml.Attr) (xml.Name, bool) {
	if len(attrs) <= 16 {
		for i := 1; i < len(attrs); i++ {
			for _, b := range attrs[:i] {
				if b.Name == attrs[i].Name {
					return b.Name, true
				}
			}
		}
		return xml.Name{}, false
	}
	seen := make(map[xml.Name]bool, len(attrs))
	for _, a := range attrs {
		if seen[a.Name] {
			return a.Name, true
		}
		seen[a.Name] = true
	}
	return xml.Name{}, false
}

// rawName is a name as RawToken read it: prefix:local, or local.
func rawName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// readXML is checkXML, returning the document it let through as etree's reader builds it
// from the same bytes (treeBuilder).
func readXML(raw []byte) (*etree.Document, responseShape, error) {
	var shape responseShape
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.CharsetReader = passThrough // as etree's
	tree := newTreeBuilder()
	var rt roundTrip
	rt.w = bufio.NewWriter(&rt.buf)
	var open []xml.Name // the elements open, as written (prefix and local name)
	var declared []int  // the namespace declarations of each open element
	elements, attributes, tokens, roots, inScope, signatures := 0, 0, 0, 0, 0, 0
	offset := int64(0)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		} else if err != nil {
			if strictOnly(err) {
				return nil, shape, fmt.Errorf("%w: invalid xml: %w", errRefused, err)
			}
			return nil, shape, fmt.Errorf("invalid xml: %w", err)
		}
		if tokens++; tokens > maxResponseTokens {
			return nil, shape, fmt.Errorf("%w: more than %d tokens", errRefused, maxResponseTokens)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(open) == 0 {
				if roots++; roots > 1 {
					return nil, shape, fmt.Errorf("%w: more than one root element", errRefused)
				}
			}
			if open = append(open, t.Name); len(open) > maxResponseDepth {
				return nil, shape, fmt.Errorf("%w: elements nested more than %d deep", errRefused, maxResponseDepth)
			}
			if elements++; elements > maxResponseElements {
				return nil, shape, fmt.Errorf("%w: more than %d elements", errRefused, maxResponseElements)
			}
			if attributes += len(t.Attr); attributes > maxResponseAttributes {
				return nil, shape, fmt.Errorf("%w: more than %d attributes", errRefused, maxResponseAttributes)
			}
			n := 0
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					n++
				}
				// The prefix xml is bound to its namespace and xmlns to none (Namespaces in
				// XML 1.0 §3): etree honours a declaration that rebinds xml, encoding/xml
				// does not, so the tree the signature is checked on and the values decoded
				// from it would disagree on what an xml: element is.
				if a.Name.Space == "xmlns" && (a.Name.Local == "xmlns" || a.Name.Local == "xml" && a.Value != xmlNamespace) {
					return nil, shape, fmt.Errorf("%w: a declaration of the reserved prefix %s", errRefused, a.Name.Local)
				}
			}
			if declared = append(declared, n); inScope+n > maxNamespacesInScope {
				return nil, shape, fmt.Errorf("%w: more than %d namespace declarations in scope", errRefused, maxNamespacesInScope)
			}
			inScope += n
			if len(t.Attr) > maxElementAttributes {
				return nil, shape, fmt.Errorf("%w: more than %d attributes on an element", errRefused, maxElementAttributes)
			}
			// An attribute written twice is not well-formed XML (XML 1.0 §3.1), which
			// encoding/xml lets through: the tree keeps the last, rootAttribute (the flow's
			// lookup without RelayState) the first.
			if a, repeated := repeatedAttribute(t.Attr); repeated {
				return nil, shape, fmt.Errorf("%w: the attribute %s repeated on an element", errRefused, rawName(a))
			}
			switch t.Name.Local {
			case "Signature":
				if signatures++; signatures > maxSignatures {
					return nil, shape, fmt.Errorf("%w: more than %d Signature elements", errRefused, maxSignatures)
				}
			case "Assertion":
				shape.assertions++
			case "EncryptedAssertion":
				shape.encryptedAssertions++
			case "EncryptedKey":
				if shape.encryptedKeys++; shape.encryptedKeys > maxEncryptedKeys {
					return nil, shape, fmt.Errorf("%w: %d EncryptedKeys, more than %d", errRefused, shape.encryptedKeys, maxEncryptedKeys)
				}
			}
			if shape.assertions+shape.encryptedAssertions > 1 {
				return nil, shape, fmt.Errorf("%w: %d Assertion and %d EncryptedAssertion elements, not one",
					errRefused, shape.assertions, shape.encryptedAssertions)
			}
		case xml.EndElement:
			if len(open) == 0 || open[len(open)-1] != t.Name {
				return nil, shape, fmt.Errorf("%w: invalid xml: an end tag that closes no open element", errRefused)
			}
			open = open[:len(open)-1]
			inScope -= declared[len(declared)-1]
			declared = declared[:len(declared)-1]
		case xml.CharData:
			if len(open) == 0 && len(bytes.Trim(t, " \t\r\n\ufeff")) > 0 {
				return nil, shape, fmt.Errorf("%w: invalid xml: text outside the root element", errRefused)
			}
		}
		if err := rt.check(tok); err != nil {
			line := bytes.Count(raw[:offset], []byte{'\n'}) + 1
			column := offset - int64(bytes.LastIndexByte(raw[:offset], '\n'))
			return nil, shape, fmt.Errorf("invalid xml: validator: in token starting at %d:%d: %w", line, column, err)
		}
		tree.add(tok)
		offset = d.InputOffset()
	}
	switch {
	case roots == 0:
		return nil, shape, fmt.Errorf("%w: invalid xml: no root element", errRefused)
	case len(open) > 0:
		return nil, shape, fmt.Errorf("%w: invalid xml: unexpected EOF, %d elements open", errRefused, len(open))
	}
	return tree.doc, shape, nil
}

func passThrough(_ string, input io.Reader) (io.Reader, error) { return input, nil }

// strictOnly reports whether err is one of the strict decoder's that the validator's lenient
// decoder would not have raised (encoding/xml's messages for an undefined or malformed
// entity, an unquoted attribute value, an attribute without a value): checkXML refuses the
// document for being what etree refuses, not for failing the validation. FuzzCheckXML would
// find one missed here, as a refusal without errRefused of what the validator accepts.
func strictOnly(err error) bool {
	var se *xml.SyntaxError
	if !errors.As(err, &se) {
		return false
	}
	return strings.HasPrefix(se.Msg, "invalid character entity ") ||
		se.Msg == "unquoted or missing attribute value in element" ||
		se.Msg == "attribute name without = in element"
}

// treeBuilder builds, from checkXML's tokens, the document that etree's reader (Element.readFrom
// of beevik/etree v1.5.0, default settings) builds from the same bytes with a decoder of the
// same settings, which gives it the same tokens: elements with their prefix and local name as
// written; an attribute repeated on an element once, at its first place, with its last
// value; text marked as whitespace or not; comments, directives and processing instructions.
// etree's reader also refuses an end tag that does not close the open element, and open
// elements at the end, which checkXML has refused before. Reading the document once saved
// the ACS an eighth of its check. TestReadXMLIsEtree and FuzzReadXML hold it to etree's reader.
type treeBuilder struct {
	doc  *etree.Document
	open []*etree.Element // the document's element first
}

func newTreeBuilder() *treeBuilder {
	doc := etree.NewDocument()
	return &treeBuilder{doc: doc, open: []*etree.Element{&doc.Element}}
}

// add adds the token checkXML has just let through.
func (b *treeBuilder) add(tok xml.Token) {
	top := b.open[len(b.open)-1]
	switch t := tok.(type) {
	case xml.StartElement:
		// The names are set as the decoder split them: CreateElement and CreateAttr split theirs
		// at the first colon, which differs for a name with a colon at either end (":a").
		el := top.CreateElement("x")
		el.Space, el.Tag = t.Name.Space, t.Name.Local
		for _, a := range t.Attr {
			if i := attrIndex(el, a.Name); i >= 0 { // repeated: len(t.Attr) >= 2, as etree's rule
				el.Attr[i].Value = a.Value
				continue
			}
			// A key of "" names no attribute of the element (every name has a local part), so
			// CreateAttr adds one rather than replacing.
			added := el.CreateAttr("", a.Value)
			added.Space, added.Key = a.Name.Space, a.Name.Local
		}
		b.open = append(b.open, el)
	case xml.EndElement:
		b.open = b.open[:len(b.open)-1]
	case xml.CharData:
		top.CreateText("").SetData(string(t)) // SetData marks whitespace, as the reader does
	case xml.Comment:
		top.CreateComment(string(t))
	case xml.Directive:
		top.CreateDirective(string(t))
	case xml.ProcInst:
		top.CreateProcInst(t.Target, string(t.Inst))
	}
}

// attrIndex returns the index of el's attribute named name, or -1.
func attrIndex(el *etree.Element, name xml.Name) int {
	for i := range el.Attr {
		if el.Attr[i].Space == name.Space && el.Attr[i].Key == name.Local {
			return i
		}
	}
	return -1
}

// roundTrip is xrv.CheckToken with its buffers kept from one token to the next, and a
// shortcut for the tokens whose round trip is known to succeed.
type roundTrip struct {
	buf bytes.Buffer
	w   *bufio.Writer // 4 KiB: xml.NewEncoder uses it as it is
	r   bytes.Reader
}

// check is xrv.CheckToken.
func (rt *roundTrip) check(before xml.Token) error {
	if comesBackUnchanged(before) {
		return nil
	}
	return rt.encodeAndDecode(before)
}

// encodeAndDecode is CheckToken: before, encoded and decoded again, must come back equal.
func (rt *roundTrip) encodeAndDecode(before xml.Token) error {
	rt.buf.Reset()
	rt.w.Reset(&rt.buf)
	encoder := xml.NewEncoder(rt.w)
	if t, ok := before.(xml.EndElement); ok {
		// xml.Encoder expects matching StartElements for all EndElements
		if err := encoder.EncodeToken(xml.StartElement{Name: t.Name}); err != nil {
			return err
		}
	}
	if err := encoder.EncodeToken(before); err != nil {
		return err
	}
	if err := encoder.Flush(); err != nil {
		return err
	}
	encoded := rt.buf.Bytes()
	rt.r.Reset(encoded)
	decoder := xml.NewDecoder(&rt.r)
	decoder.CharsetReader = passThrough
	if _, ok := before.(xml.EndElement); ok {
		// throw away the StartElement we added above
		if _, err := decoder.RawToken(); err != nil {
			return err
		}
	}
	after, err := decoder.RawToken()
	if err != nil {
		return err
	}
	if !tokenEquals(before, after) {
		return xrv.XMLRoundtripError{Expected: before, Observed: after}
	}
	if offset := decoder.InputOffset(); offset != int64(len(encoded)) {
		return xrv.XMLRoundtripError{Expected: before, Observed: after, Overflow: bytes.Clone(encoded[offset:])}
	}
	return nil
}

// comesBackUnchanged reports whether check would find nothing in before without running it:
// for the common tokens of a response, whose round trip through encoding/xml's encoder and
// decoder is known to give them back (encoding/xml as of Go 1.26). It answers false whenever
// it cannot tell, and check runs the round trip. Half of the ACS's validation went into
// encoding and decoding again tokens like these. FuzzRoundTripShortcut holds it to check.
//
//   - Text that is not empty. The decoder that read it refused anything outside XML's
//     character range and any invalid UTF-8 in text, and the encoder escapes exactly what the
//     decoder unescapes (& < > " ' tab and carriage return; a newline stays as it is). Empty
//     text (an empty CDATA section) encodes to nothing, which decodes to no token at all.
//   - An end tag whose local name is a plain name (plainName): the encoder writes it as it
//     is, and drops the prefix, which the comparison ignores.
//   - A start tag whose names are plain and whose attributes are unprefixed or namespace
//     declarations (xmlns:p), with values of valid UTF-8 in XML's character range (as the
//     decoder reads them; checked again all the same, as it costs nothing). The encoder writes <local xmlns="prefix">,
//     and declares the namespace "xmlns" for the declarations under the prefix _xmlns just
//     before the first one: the comparison's fixNamespacePrefixes removes exactly these two
//     additions, because every attribute before that declaration is unprefixed.
//
// Everything else goes through check: comments, processing instructions, directives,
// attributes with another prefix (xsi:type), names with other characters.
func comesBackUnchanged(tok xml.Token) bool {
	switch t := tok.(type) {
	case xml.CharData:
		return len(t) > 0
	case xml.EndElement:
		return plainName(t.Name.Local) && (t.Name.Space == "" || plainName(t.Name.Space))
	case xml.StartElement:
		if !plainName(t.Name.Local) || t.Name.Space != "" && !plainName(t.Name.Space) {
			return false
		}
		for _, a := range t.Attr {
			if a.Name.Space != "" && a.Name.Space != "xmlns" || !plainName(a.Name.Local) || !xmlText(a.Value) {
				return false
			}
		}
		return true
	}
	return false
}

// plainName reports whether s is a name that encoding/xml's decoder reads back as the same
// local name: ASCII letters, digits, _ . and -, not starting with a digit, . or -. (A name the
// decoder split at its colon can have a local part that is not a name on its own: "a:1b".)
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case i > 0 && ('0' <= c && c <= '9' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// xmlText reports whether s is valid UTF-8 of runes in XML's character range: what the
// encoder writes unchanged or escaped, never replaced by U+FFFD.
func xmlText(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf || c == '\t' || c == '\n' || c == '\r' {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !xmlRune(r) {
			return false
		}
		i += size
	}
	return true
}

// xmlRune is the Char production of XML 1.0 (encoding/xml's isInCharacterRange).
func xmlRune(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// tokenEquals is the validator's.
func tokenEquals(before, after xml.Token) bool {
	switch t1 := before.(type) {
	case xml.CharData:
		t2, ok := after.(xml.CharData)
		return ok && bytes.Equal(t1, t2)
	case xml.Comment:
		t2, ok := after.(xml.Comment)
		return ok && bytes.Equal(t1, t2)
	case xml.Directive:
		t2, ok := after.(xml.Directive)
		return ok && bytes.Equal(t1, t2)
	case xml.EndElement:
		t2, ok := after.(xml.EndElement)
		// local name should equal; namespace prefixes get erased
		return ok && t1.Name.Local == t2.Name.Local && t2.Name.Space == ""
	case xml.ProcInst:
		t2, ok := after.(xml.ProcInst)
		return ok && t1.Target == t2.Target && bytes.Equal(t1.Inst, t2.Inst)
	case xml.StartElement:
		t2, ok := after.(xml.StartElement)
		if !ok {
			return false
		}
		// encoding/xml messes up namespace prefixes on both tag and attribute names;
		// they need adjusting to make the comparison possible
		fixNamespacePrefixes(&t1, &t2)
		if t1.Name != t2.Name || len(t1.Attr) != len(t2.Attr) {
			return false
		}
		// after the call to fixNamespacePrefixes, all attributes should match; ordering is preserved
		for i, attr := range t1.Attr {
			if attr != t2.Attr[i] {
				return false
			}
		}
		return true
	}
	return false
}

// fixNamespacePrefixes is the validator's.
func fixNamespacePrefixes(before, after *xml.StartElement) {
	// if the after token has more attributes than the before token,
	// the round trip likely introduced new xmlns attributes
	if len(after.Attr) > len(before.Attr) {
		// handle erased tag prefixes; the corresponding xmlns attribute is always the first one
		if before.Name.Space != "" && after.Name.Space == "" && after.Attr[0].Name == (xml.Name{Local: "xmlns"}) {
			after.Name.Space = after.Attr[0].Value
			after.Attr = after.Attr[1:]
		}
		// handle attribute prefixes; the xmlns attribute always comes immediately before the prefixed attribute
		for len(after.Attr) > len(before.Attr) && len(after.Attr) > 1 {
			var xmlns *xml.Attr
			i := 1
			for ; i < len(after.Attr); i++ {
				if after.Attr[i-1].Name.Space == "xmlns" && after.Attr[i-1].Name.Local == after.Attr[i].Name.Space {
					xmlns = &after.Attr[i-1]
					break
				}
			}
			if xmlns == nil {
				break
			}
			prefix := xmlns.Name.Local
			space := xmlns.Value
			copy(after.Attr[i-1:], after.Attr[i:])
			after.Attr = after.Attr[:len(after.Attr)-1]
			for j := range after.Attr {
				if after.Attr[j].Name.Space == prefix {
					after.Attr[j].Name.Space = space
				}
			}
		}
	}
}
