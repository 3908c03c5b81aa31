// Package bindcli is the client side of `gatehouse bind`, the ahead-of-time binding tool for
// IdP scripts and admins: it reads a CSV of bindings, sends them to a Gatehouse server through
// the GraphQL bulk mutation with a client-credentials token, and reports one result per input
// row, in input order. It speaks to the server only over HTTP and must not import the server's
// packages: the binding rules are the server's, and it checks no more than a row's shape.
package bindcli

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Column names of the input CSV (a contract); secret is optional.
const (
	ColAccountUUID = "accountUuid"
	ColAuthModule  = "authModule"
	ColIdentifier  = "identifier"
	ColSecret      = "secret"
)

// Status values of a result row besides the server's error codes (INVALID, NOT_FOUND, TAKEN, …).
const (
	StatusOK = "ok"
	// StatusInvalid is the server's code for input that fails validation; rows that cannot
	// be read as a row of values to send get it too.
	StatusInvalid = "INVALID"
	// StatusError marks rows whose request failed without a per-row answer (the server
	// unreachable, an HTTP error after the retries).
	StatusError = "ERROR"
)

// Row is one input row and, after Run, its outcome.
type Row struct {
	Line   int      // line number in the input (the header is line 1)
	Fields []string // the input fields as read, echoed into the results

	AccountUUID, AuthModule, Identifier, Secret string

	Status  string // StatusOK or an error code; empty until decided
	Message string

	cut bool // Fields stop at a CSV syntax error: those read may be shifted all the same
}

// File is a parsed input: its header and rows, in input order.
type File struct {
	Header []string
	Rows   []*Row

	secretCol int // index of the secret column, -1 when there is none
}

// Read parses the whole input CSV. A row that cannot be used (a CSV syntax error, a wrong
// number of fields, a value that is not UTF-8) is kept with status INVALID and a message; an
// unreadable input, a header without the required columns and a quote left open over
// following rows (which would lose them) are errors.
func Read(r io.Reader) (*File, error) {
	rd, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	f := rd.File()
	for {
		row, err := rd.Next()
		if err == io.EOF {
			return f, nil
		}
		if err != nil {
			return nil, err
		}
		f.Rows = append(f.Rows, row)
	}
}

// Reader reads the input CSV a row at a time, as Read does, holding no row but the one it
// returns.
type Reader struct {
	cr        *csv.Reader
	header    []string
	col       map[string]int
	secretCol int
}

// NewReader reads the header of the input CSV and checks that it names the required columns.
func NewReader(r io.Reader) (*Reader, error) {
	// Spreadsheet exports start with a byte-order mark: dropped before the CSV reader, which
	// would otherwise refuse a quoted first header name ("\ufeff\"accountUuid\"").
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // counted per row below, so one bad row is not fatal
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("bind: the CSV is empty; want a header " + ColAccountUUID + "," + ColAuthModule + "," + ColIdentifier + "[," + ColSecret + "]")
	}
	if err != nil {
		return nil, fmt.Errorf("bind: read CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range []string{ColAccountUUID, ColAuthModule, ColIdentifier} {
		if _, ok := col[need]; !ok {
			hint := ""
			if len(header) == 1 && strings.ContainsAny(header[0], ";\t") {
				// Spreadsheets in many locales save "CSV" with semicolons.
				hint = " (the header is one column: is the file separated by semicolons or tabs? save it with commas)"
			}
			return nil, fmt.Errorf("bind: the CSV header has no %q column; want %s,%s,%s[,%s]%s", need,
				ColAccountUUID, ColAuthModule, ColIdentifier, ColSecret, hint)
		}
	}
	rd := &Reader{cr: cr, header: header, col: col, secretCol: -1}
	if i, ok := col[ColSecret]; ok {
		rd.secretCol = i
	}
	return rd, nil
}

// File is an empty File of the input's header, for its results.
func (rd *Reader) File() *File { return &File{Header: rd.header, secretCol: rd.secretCol} }

// Next returns the next row, or io.EOF after the last.
func (rd *Reader) Next() (*Row, error) {
	cr, header, col := rd.cr, rd.header, rd.col
	rec, err := cr.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	row := &Row{Fields: rec}
	var pe *csv.ParseError
	// A quote left open runs a field over the following lines, up to the next quote or the
	// end of the file: the rows in between are read as part of it and would vanish from
	// the results. No value of a binding holds a line break, so a row over several lines
	// is refused whole, before anything is sent.
	if errors.As(err, &pe) && pe.StartLine != pe.Line {
		return nil, fmt.Errorf("bind: line %d: a quoted field opened there is not closed before line %d, so the lines in between cannot be read as rows; fix the quote (nothing was sent)", pe.StartLine, pe.Line)
	}
	if err == nil {
		if problem := swallowingField(rec, header, col); problem != "" {
			line, _ := cr.FieldPos(0)
			return nil, fmt.Errorf("bind: line %d: the quoted %s (is a quote not closed?): fix the file (nothing was sent)", line, problem)
		}
	}
	switch {
	case errors.As(err, &pe):
		row.Line, row.cut = pe.StartLine, true
		row.Status, row.Message = StatusInvalid, fmt.Sprintf("line %d: malformed CSV: %v", pe.StartLine, pe.Err)
	case err != nil:
		return nil, fmt.Errorf("bind: read CSV: %w", err)
	default:
		row.Line, _ = cr.FieldPos(0)
		if len(rec) != len(header) {
			row.Status, row.Message = StatusInvalid, fmt.Sprintf("line %d has %d fields; the header has %d", row.Line, len(rec), len(header))
			if rd.secretCol >= 0 {
				row.Message += " (is a comma in a value not quoted? the fields the secret may have moved to are shown as " + Redacted + ")"
			}
			break
		}
		row.AccountUUID = strings.TrimSpace(rec[col[ColAccountUUID]])
		row.AuthModule = strings.TrimSpace(rec[col[ColAuthModule]])
		row.Identifier = rec[col[ColIdentifier]]
		if rd.secretCol >= 0 {
			row.Secret = rec[rd.secretCol]
		}
		row.checkShape()
	}
	return row, nil
}

// swallowingField says which field of rec a quote left open has run over following rows, and
// how it shows, or "". A binding column (accountUuid, authModule, identifier) never holds a line break, so
// one there is such a quote. A secret or a carried column may hold a line break (a
// spreadsheet's multi-line cell); it is such a quote only when a line after the break reads as
// a row: its field at the accountUuid column is a UUID.
func swallowingField(rec, header []string, col map[string]int) string {
	for i, v := range rec {
		if !strings.Contains(v, "\n") || i >= len(header) {
			continue
		}
		name := strings.TrimSpace(header[i])
		if name == ColAccountUUID || name == ColAuthModule || name == ColIdentifier {
			return name + " field runs over several lines, and no " + name + " holds a line break"
		}
		lines := strings.Split(v, "\n")
		for _, l := range lines[1:] {
			fields := strings.Split(l, ",")
			if a := col[ColAccountUUID]; a < len(fields) {
				if isID(strings.Trim(strings.TrimSpace(fields[a]), `"`)) {
					return name + " field runs over several lines and holds what reads as further rows"
				}
			}
		}
	}
	return ""
}

// isID says whether s is an account's id as the server reads one: a UUID in its 36-character
// hyphenated form, hex digits in either case (the server's rule, models.ParseID, stated again
// here because bindcli imports nothing of the server).
func isID(s string) bool {
	return len(s) == 36 && uuid.Validate(s) == nil
}

// checkShape marks a row whose values the server would not see as written. Everything the
// server can judge (a malformed or unknown accountUuid, a blank authModule or identifier,
// lengths, the identity rule) is the server's to decide, so a row reports the server's code
// and words, the same as the bulk mutation's answer for it.
func (r *Row) checkShape() {
	var problems []string
	// A CSV saved in a legacy encoding (Latin-1, Windows-1252) would reach the server with
	// U+FFFD in place of each accented letter once encoded as JSON: an identifier nobody's
	// IdP sends, a secret nobody can type. The row is refused here, naming the cause.
	for _, f := range []struct{ name, value string }{{ColAccountUUID, r.AccountUUID}, {ColAuthModule, r.AuthModule},
		{ColIdentifier, r.Identifier}, {ColSecret, r.Secret}} {
		if !utf8.ValidString(f.value) {
			problems = append(problems, f.name+" is not UTF-8 text: save the CSV as UTF-8 (a spreadsheet's \"CSV UTF-8\")")
		}
	}
	if len(problems) > 0 {
		r.Status, r.Message = StatusInvalid, strings.Join(problems, "; ")
	}
}

// Redacted stands in the results for a secret, which is never echoed.
const Redacted = "[redacted]"

// WriteResults writes the input header plus status and message, then one row per input row in
// input order. Secrets are not echoed: a non-empty secret is written as "[redacted]".
func WriteResults(w io.Writer, f *File) error {
	rw, err := NewResultWriter(w, f)
	if err != nil {
		return err
	}
	for _, r := range f.Rows {
		if err := rw.Write(r); err != nil {
			return err
		}
	}
	return rw.Flush()
}

// ResultWriter writes the results CSV a row at a time, as WriteResults does.
type ResultWriter struct {
	cw  *csv.Writer
	f   *File
	rec []string
}

// NewResultWriter writes the header of the results of f (its Rows are not used) to w.
func NewResultWriter(w io.Writer, f *File) (*ResultWriter, error) {
	rw := &ResultWriter{cw: csv.NewWriter(w), f: f, rec: make([]string, len(f.Header)+2)}
	return rw, rw.cw.Write(append(append([]string(nil), f.Header...), "status", "message"))
}

// Write writes the results row of r.
func (rw *ResultWriter) Write(r *Row) error { return rw.cw.Write(rw.f.result(rw.rec, r)) }

// Flush writes what is buffered.
func (rw *ResultWriter) Flush() error {
	rw.cw.Flush()
	return rw.cw.Error()
}

// result fills rec with r's results row: its fields cut or padded to the header, the secret
// redacted, then status and message.
func (f *File) result(rec []string, r *Row) []string {
	n := len(f.Header)
	clear(rec)
	copy(rec[:n], r.Fields)
	if f.secretCol >= 0 {
		// A row with a field too many or too few has its fields shifted, and which one is the
		// secret is not known: an unquoted comma in a secret ("pa,ss") puts its second half
		// under the next column. Every field the secret may have moved to is redacted: with
		// more fields than the header, the secret's column and those after it; with fewer, as
		// many columns before it too as fields are missing.
		// A row cut at a syntax error may have had fields too many before it.
		from := f.secretCol
		switch {
		case len(r.Fields) == n && !r.cut:
			from = n // only the secret's own column, below
		case len(r.Fields) < n && !r.cut:
			from = max(0, from-(n-len(r.Fields)))
		}
		for i := from; i < n; i++ {
			if rec[i] != "" {
				rec[i] = Redacted
			}
		}
		if rec[f.secretCol] != "" {
			rec[f.secretCol] = Redacted
		}
	}
	rec[n], rec[n+1] = r.Status, r.Message
	return rec
}
