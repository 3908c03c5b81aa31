package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Input hygiene: the one rule for text a caller sends, applied by provision to every string
// that reaches the database or a comparison (names, identifiers, userNames, emails, filters,
// PATCH values, sign-in identities). The rule is the same for every surface and both databases
// (PostgreSQL cannot store NUL at all; SQLite would), so nothing depends on the driver.
//
// Refused everywhere:
//   - invalid UTF-8;
//   - C0 controls (U+0000–U+001F) and DEL (U+007F), except tab, line feed and carriage return
//     in free text (CheckFreeText: PEM certificates, descriptions);
//   - C1 controls (U+0080–U+009F);
//   - bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which
//     reorder what an admin sees ("Trojan Source", CVE-2021-42574) without changing the bytes.
//
// Allowed: the implicit direction marks U+200E LRM, U+200F RLM and U+061C ALM. They are needed
// to write mixed-direction names correctly (Hebrew or Arabic with Latin digits), they only set
// the direction of neutral characters next to them and cannot reorder a run of text, and
// identifiers are compared as exact strings, so a mark makes a different identifier, never a
// hidden alias of an existing one.

// BodyTextError is a refusal of a JSON request body (DecodeJSONBody, CheckBodyText); its
// message is the caller's.
type BodyTextError string

func (e BodyTextError) Error() string { return string(e) }

// The refusals of CheckBodyText.
const (
	ErrBodyNotUTF8           BodyTextError = "the request body is not valid UTF-8"
	ErrBodyUnpairedSurrogate BodyTextError = `the request body has an escaped surrogate without its pair (such as "\ud800"), which is not Unicode text`
)

// MediaType is the media type of a Content-Type header, lower-cased and without its
// parameters ("" when absent or unreadable), read as net/http's form parsing reads it: media
// types compare case-insensitively (RFC 9110 §8.3.1), and application/jsonx is not
// application/json. Every check of a request's body type goes through it, so that no layer
// (the guard's limits, the handler behind it) reads a body the other took for another type.
func MediaType(contentType string) string {
	mt, _, _ := mime.ParseMediaType(contentType) // a bad parameter still names the type
	return mt
}

// DecodeJSONBody decodes a request body that must hold exactly one JSON value into v, refusing
// unknown object fields when strict: the one reading of a JSON body for REST and SCIM. It reads
// at most limit bytes. Every failure is a BodyTextError, a sentence for the caller that never
// repeats the input: a body over limit, one that could not be read, text that is not Unicode
// (CheckBodyText), an empty body, invalid JSON or a field of the wrong type (JSONMessage), data
// after the value.
func DecodeJSONBody(body io.Reader, v any, strict bool, limit int64) error {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	switch {
	case err != nil:
		return BodyTextError("the request body could not be read")
	case int64(len(b)) > limit:
		return BodyTextError("the request body is larger than " + byteSize(limit))
	}
	if err := CheckBodyText(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); errors.Is(err, io.EOF) {
		return BodyTextError("the request body is empty; a JSON object is required")
	} else if err != nil {
		return BodyTextError(JSONMessage(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BodyTextError("the request body has unexpected data after the JSON object")
	}
	return nil
}

// byteSize names a limit in bytes as people read it: "2 MiB", "64 KiB", "1000 bytes".
func byteSize(n int64) string {
	switch {
	case n > 0 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n > 0 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// CheckBodyText refuses a JSON body that is not UTF-8, which JSON must be (RFC 8259 §8.1),
// or that escapes a surrogate outside a pair ("\ud800"), which I-JSON forbids (RFC 7493
// §2.1). encoding/json decodes both to U+FFFD, so the text rule, which allows that character
// (names imported badly hold it), would never see them, and the replacement would be stored
// in place of what the caller sent.
func CheckBodyText(b []byte) error {
	if !utf8.Valid(b) {
		return ErrBodyNotUTF8
	}
	if UnpairedSurrogateEscape(b) {
		return ErrBodyUnpairedSurrogate
	}
	return nil
}

// UnpairedSurrogateEscape reports whether JSON (or GraphQL) source text escapes a surrogate
// (\uD800–\uDFFF) other than as a high one followed at once by an escaped low one. An escaped
// backslash is skipped with the character it escapes, so "\\ud800" is text, not an escape.
func UnpairedSurrogateEscape(b []byte) bool {
	if bytes.IndexByte(b, '\\') < 0 { // most bodies
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(b) || b[i] != 'u' {
			continue
		}
		r, ok := hex4(b, i+1)
		if !ok {
			continue // not an escape; the decoder refuses it
		}
		i += 4 // at the escape's last digit
		switch {
		case r >= 0xdc00 && r <= 0xdfff:
			return true // a low surrogate alone
		case r >= 0xd800 && r <= 0xdbff:
			if i+2 < len(b) && b[i+1] == '\\' && b[i+2] == 'u' {
				if lo, ok := hex4(b, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
					i += 6 // the pair's low half
					continue
				}
			}
			return true // a high surrogate alone
		}
	}
	return false
}

// hex4 decodes the four hexadecimal digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Messages of the text rule; sentences completing "<field> …", never echoing the input.
const (
	msgInvalidUTF8  = "must be valid UTF-8 text"
	msgControl      = "must not contain control characters (such as NUL)"
	msgLineBreak    = "must not contain line breaks or tabs"
	msgBidiOverride = "must not contain bidirectional override or isolate characters (U+202A–U+202E, U+2066–U+2069)"
)

// CheckText applies the input rule to single-line text (names, identifiers, filters). It
// returns nil or an INVALID error about field that does not echo the value.
func CheckText(field, value string) *Error {
	return checkText(field, value, false)
}

// CheckFreeText is CheckText for text that may span lines: it allows tab, LF and CR.
func CheckFreeText(field, value string) *Error {
	return checkText(field, value, true)
}

// CheckTexts applies CheckText to each field/value pair (field names at even, values at odd
// positions; nil *string values are skipped) and returns the problems found.
func CheckTexts(pairs ...any) Errors {
	var errs Errors
	for i := 0; i+1 < len(pairs); i += 2 {
		field, _ := pairs[i].(string)
		var err *Error
		switch v := pairs[i+1].(type) {
		case string:
			err = CheckText(field, v)
		case *string:
			if v != nil {
				err = CheckText(field, *v)
			}
		case []string:
			for _, s := range v {
				if err = CheckText(field, s); err != nil {
					break
				}
			}
		default:
			panic("models.CheckTexts: value of " + field + " is not a string, *string or []string")
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// CheckValue applies CheckFreeText to every string inside a decoded JSON value (objects,
// arrays, keys and strings), for documents kept as JSON (SCIM attributes, claims, attribute
// mappings); free text because such documents carry postal addresses and notes (RFC 7643
// §4.1.2 "formatted" is multi-line). Columns taken from them are checked with CheckText too.
func CheckValue(field string, v any) *Error { return CheckValueBeyond(field, v, nil) }

// CheckValueBeyond is CheckValue passing the keys and strings in known as they are: those of
// the document as stored, when only what an update changes is checked.
func CheckValueBeyond(field string, v any, known map[string]bool) *Error {
	switch x := v.(type) {
	case string:
		if !known[x] {
			return CheckFreeText(field, x)
		}
	case map[string]any:
		for k, e := range x {
			if known[k] {
			} else if err := CheckText(field, k); err != nil {
				return err
			}
			if err := CheckValueBeyond(field, e, known); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := CheckValueBeyond(field, e, known); err != nil {
				return err
			}
		}
	}
	return nil
}

// JSONStrings adds the keys and strings inside a decoded JSON value to set.
func JSONStrings(v any, set map[string]bool) {
	switch x := v.(type) {
	case string:
		set[x] = true
	case map[string]any:
		for k, e := range x {
			set[k] = true
			JSONStrings(e, set)
		}
	case []any:
		for _, e := range x {
			JSONStrings(e, set)
		}
	}
}

// The name rule: a name (of a person — GraphQL firstName/lastName, SCIM name.givenName,
// name.familyName and displayName, the names an identity provider asserts at sign-in — or of
// anything an admin creates) is at most MaxNameLength characters. A longer one is refused,
// never truncated; docs/input-rules.md says how each surface refuses it.

// MsgNameTooLong completes "<field> …" for a name that breaks the name rule.
const MsgNameTooLong = "must be at most 128 characters"

// NameTooLong reports whether name breaks the name rule (more than MaxNameLength characters).
func NameTooLong(name string) bool {
	return len(name) > MaxNameLength && utf8.RuneCountInString(name) > MaxNameLength
}

// CheckName applies CheckText and the name rule to a name; the length error echoes the value.
func CheckName(field, name string) *Error {
	if e := CheckText(field, name); e != nil {
		return e
	}
	if NameTooLong(name) {
		return FieldError(EINVALID, field, name, MsgNameTooLong)
	}
	return nil
}

func checkText(field, value string, multiline bool) *Error {
	if msg := textProblem(value, multiline); msg != "" {
		return &Error{Code: EINVALID, Field: field, Message: msg}
	}
	return nil
}

// textProblem says what is wrong with s under the rule, or "" when nothing is.
func textProblem(s string, multiline bool) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f {
			clean = false
			break
		}
	}
	if clean { // printable ASCII, the common case
		return ""
	}
	if !utf8.ValidString(s) {
		return msgInvalidUTF8
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			if !multiline {
				return msgLineBreak
			}
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f:
			return msgControl
		case r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			return msgBidiOverride
		}
	}
	return ""
}

// Clip makes text that may come from outside (an identity provider's error description, a
// library's error that quotes a response body, an asserted identifier) fit to store and show
// as one line, the one rule for every such text Gatehouse keeps or logs rather than refuses:
// invalid UTF-8 becomes U+FFFD, tab, line feed and carriage return become a space, the other
// controls the input rule refuses (C0, DEL, C1, bidirectional overrides and isolates) are
// dropped, and text longer than n bytes is cut at a character boundary, at most n bytes kept,
// followed by "…". PostgreSQL refuses invalid UTF-8 and NUL in text: a clipped value always
// stores. Work is bounded by n, whatever the length of s.
func Clip(s string, n int) string {
	if len(s) <= n && textProblem(s, false) == "" {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			r = ' '
		case r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069:
			continue
		}
		// An invalid byte decodes as utf8.RuneError, which WriteRune writes as U+FFFD.
		if b.Len()+utf8.RuneLen(r) > n {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
