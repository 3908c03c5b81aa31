package models

import (
	"bytes"
	"errors"
	"io"
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

// ErrBodyNotUTF8 is UTF8Body's refusal of a body that is not UTF-8.
var ErrBodyNotUTF8 = errors.New("the request body is not valid UTF-8")

// UTF8Body reads a JSON request body whole and returns it to decode, or ErrBodyNotUTF8 when
// it is not UTF-8, which JSON must be (RFC 8259 §8.1). encoding/json would replace each
// invalid byte with U+FFFD, so the text rule would never see it and the replacement would be
// stored in its place. Read errors (a body over http.MaxBytesReader's limit) pass through.
func UTF8Body(body io.Reader) (*bytes.Reader, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(b) {
		return nil, ErrBodyNotUTF8
	}
	return bytes.NewReader(b), nil
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
func CheckValue(field string, v any) *Error {
	switch x := v.(type) {
	case string:
		return CheckFreeText(field, x)
	case map[string]any:
		for k, e := range x {
			if err := CheckText(field, k); err != nil {
				return err
			}
			if err := CheckValue(field, e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := CheckValue(field, e); err != nil {
				return err
			}
		}
	}
	return nil
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
