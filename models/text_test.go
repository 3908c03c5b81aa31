package models

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func TestTextRule(t *testing.T) {
	for _, tc := range []struct {
		in        string
		multiline bool
		problem   string // "" when allowed
	}{
		{"Ada Lovelace", false, ""},
		{"Zoë Ñúñez 李小龙", false, ""},
		{"\u200fשרה", false, ""},                // RLM: allowed
		{"Cohen\u200e", false, ""},              // LRM: allowed
		{"\u061cعلي", false, ""},                // ALM: allowed
		{"emoji 👩🏽‍💻", false, ""},               // ZWJ sequences are text
		{"a\x00b", false, "control characters"}, // NUL
		{"a\x01b", false, "control characters"},
		{"a\x1fb", false, "control characters"},
		{"a\x7fb", false, "control characters"}, // DEL
		{"a\u0080b", false, "control characters"},
		{"a\u009fb", false, "control characters"},
		{"a\tb", false, "line breaks"},
		{"a\nb", false, "line breaks"},
		{"a\r\nb", false, "line breaks"},
		{"a\tb\r\nc", true, ""},
		{"a\x00b", true, "control characters"},
		{"a\u202ab", false, "bidirectional"},
		{"a\u202eb", true, "bidirectional"},
		{"a\u2066b", false, "bidirectional"},
		{"a\u2069b", false, "bidirectional"},
		{"a\xffb", false, "UTF-8"},
		{"", false, ""},
	} {
		err := checkText("field", tc.in, tc.multiline)
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("%q (multiline %v): refused: %v", tc.in, tc.multiline, err)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Message, tc.problem)):
			t.Errorf("%q (multiline %v): %v, want a problem with %q", tc.in, tc.multiline, err, tc.problem)
		case err != nil && (err.Value != nil || err.Code != EINVALID || err.Field != "field"):
			t.Errorf("%q: error %+v must be INVALID about field without echoing the value", tc.in, err)
		}
	}
}

func TestCheckValue(t *testing.T) {
	doc := map[string]any{"addresses": []any{map[string]any{"formatted": "1 Main St\nSpringfield"}}, "n": 3.0, "ok": true}
	if err := CheckValue("attributes", doc); err != nil {
		t.Fatalf("multi-line free text refused: %v", err)
	}
	for _, bad := range []any{
		map[string]any{"nick\x00": "x"},
		map[string]any{"a": []any{"ok", "b\u202e"}},
		map[string]any{"a": map[string]any{"b": "\x00"}},
	} {
		if CheckValue("attributes", bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFieldMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{Code: EINVALID, Field: "name", Message: "is required"}, "name is required"},
		{&Error{Code: EINVALID, Field: "name", Message: "must be at most 128 characters"}, "name must be at most 128 characters"},
		{&Error{Code: ENOTFOUND, Field: "id", Message: "no such connection in this workspace"}, "no such connection in this workspace"},
		{&Error{Code: ENOTFOUND, Field: "accountUuid", Message: "matches no user account in this workspace"}, "accountUuid matches no user account in this workspace"},
		{&Error{Code: ETAKEN, Field: "userName", Message: "a user with this userName already exists"}, "a user with this userName already exists"},
	} {
		if got := FieldMessage(tc.err); got != tc.want {
			t.Errorf("FieldMessage(%+v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	for _, c := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"plain", "plain", 10, "plain"},
		{"exact", "abcde", 5, "abcde"},
		{"ascii cut", "abcdef", 3, "abc…"},
		{"invalid byte", "bad\xffbyte", 64, "bad\uFFFDbyte"},
		{"NUL and controls dropped", "a\x00b\x1b[1mc\x7f\u0085d", 64, "ab[1mcd"},
		{"line breaks and tabs are spaces", "a\nb\tc\r", 64, "a b c "},
		{"bidi override dropped", "ab\u202ecd\u2066", 64, "abcd"},
		{"direction marks kept", "a\u200fb", 64, "a\u200fb"},
		{"cut at a rune boundary", "a" + long, 256, "a" + strings.Repeat("é", 127) + "…"},
		{"cut inside an invalid tail", "ab\xe2\x82", 3, "ab…"},
	} {
		got := Clip(c.in, c.n)
		if got != c.want {
			t.Errorf("%s: Clip(%q, %d) = %q, want %q", c.name, c.in, c.n, got, c.want)
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Errorf("%s: Clip gave %q, not valid NUL-free UTF-8", c.name, got)
		}
	}
	huge := strings.Repeat("x\x00", 1<<20)
	if got := Clip(huge, 300); len(got) > 300+len("…") {
		t.Errorf("Clip of 2 MiB kept %d bytes", len(got))
	}
}

func TestUnpairedSurrogateEscape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{"a": "plain"}`, false},
		{`{"a": "\ud800"}`, true},                // a high surrogate alone
		{`{"a": "\uDC00"}`, true},                // a low one alone, upper-case hex
		{`{"a": "\ud83d\ude00"}`, false},         // a pair (😀)
		{`{"a": "\uD83D\uDE00\ud800"}`, true},    // a pair, then one alone
		{`{"a": "\ude00\ud83d"}`, true},          // the halves reversed
		{`{"a": "\ud83d\u0041"}`, true},          // a high one before a non-surrogate escape
		{`{"a": "\ud83d\n"}`, true},              // before another escape
		{`{"a": "x\ud83d"}`, true},               // at the end of a string
		{`\ud800`, true},                         // at the end of the text
		{`{"a": "\\ud800"}`, false},              // an escaped backslash: text
		{`{"a": "\\\ud800"}`, true},              // an escaped backslash, then an escape
		{`{"a": "\u00e9\u0041 \"\\\/"}`, false},  // other escapes
		{`{"a": "\uzzzz \u12"}`, false},          // not escapes (the decoder refuses them)
		{`{"a": "\ud800\u`, true},                // a truncated pair
		{"{\"a\": \"\\ud83d\\ude00\"}\\", false}, // a trailing backslash
	} {
		if got := UnpairedSurrogateEscape([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.in, got, tc.want)
		}
	}
	// Against encoding/json's decoding: a pair decodes to its character, one alone to U+FFFD.
	var v struct{ A string }
	if err := json.Unmarshal([]byte(`{"a": "\ud83d\ude00"}`), &v); err != nil || v.A != "😀" {
		t.Fatalf("a pair decodes to %q %v", v.A, err)
	}
	if err := json.Unmarshal([]byte(`{"a": "\ud83d"}`), &v); err != nil || v.A != "\ufffd" {
		t.Fatalf("one alone decodes to %q %v", v.A, err)
	}
}

// DecodeJSONBody's refusals are sentences that name the problem and never echo the input.
func TestDecodeJSONBody(t *testing.T) {
	type target struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	const mib = 1 << 20
	cases := []struct {
		name   string
		body   io.Reader
		limit  int64
		strict bool
		want   string // "": decoded
	}{
		{"an object", strings.NewReader(`{"name":"a","count":2}`), mib, true, ""},
		{"an unknown field, lenient", strings.NewReader(`{"name":"a","other":1}`), mib, false, ""},
		{"an unknown field, strict", strings.NewReader(`{"name":"a","other":1}`), mib, true, "the request body has an unknown field \"other\""},
		{"empty", strings.NewReader(""), mib, true, "the request body is empty; a JSON object is required"},
		{"only spaces", strings.NewReader("  \n"), mib, false, "the request body is empty; a JSON object is required"},
		{"trailing data", strings.NewReader(`{"name":"a"} {"name":"b"}`), mib, true, "the request body has unexpected data after the JSON object"},
		{"a trailing brace", strings.NewReader(`{"name":"a"} }`), mib, true, "the request body has unexpected data after the JSON object"},
		{"invalid JSON", strings.NewReader(`{"name": secret}`), mib, true, "the request body is not valid JSON (at byte 10)"},
		{"a wrong type", strings.NewReader(`{"count":"secret"}`), mib, true, "count must be a JSON number, not string"},
		{"cut short", strings.NewReader(`{"name":"secr`), mib, true, "the request body ends before the JSON value does"},
		{"not UTF-8", strings.NewReader("{\"name\":\"\xff\"}"), mib, true, string(ErrBodyNotUTF8)},
		{"an unpaired surrogate", strings.NewReader(`{"name":"\ud800"}`), mib, true, string(ErrBodyUnpairedSurrogate)},
		{"over 2 MiB", strings.NewReader(`{"name":"` + strings.Repeat("s", 2*mib) + `"}`), 2 * mib, false, "the request body is larger than 2 MiB"},
		{"over 64 KiB", strings.NewReader(strings.Repeat(" ", 64<<10+1)), 64 << 10, false, "the request body is larger than 64 KiB"},
		{"over 1000 bytes", strings.NewReader(strings.Repeat(" ", 1001)), 1000, false, "the request body is larger than 1000 bytes"},
		{"exactly the limit", strings.NewReader(`{"name":"a"}`), int64(len(`{"name":"a"}`)), true, ""},
		{"a failed read", io.MultiReader(strings.NewReader(`{"name":`), iotest.ErrReader(errors.New("connection reset"))), mib, true, "the request body could not be read"},
	}
	for _, c := range cases {
		var v target
		err := DecodeJSONBody(c.body, &v, c.strict, c.limit)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || err.Error() != c.want):
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		case c.want != "" && !errors.As(err, new(BodyTextError)):
			t.Errorf("%s: %T is not a BodyTextError", c.name, err)
		case c.want == "" && v.Name != "a":
			t.Errorf("%s: decoded %+v", c.name, v)
		}
	}
}
