package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"gatehouse/bindcli"
	"gatehouse/store"
)

// maxBindConcurrency bounds bind's --concurrency: requests in flight from one run.
const maxBindConcurrency = 64

// newBindCmd is `gatehouse bind`: ahead-of-time binding from a CSV, through the API.
func newBindCmd(getenv func(string) string, stdout, stderr io.Writer) *cobra.Command {
	var o bindcli.Options
	var csvPath, outPath string
	commit := func() error { return nil } // the results are in place (--out)
	cmd := &cobra.Command{
		Use:   "bind --url URL --csv accounts.csv [--out results.csv] [--dry-run]",
		Short: "Bind accounts to IdP identities ahead of time from a CSV file, through the API",
		Long: `Bind user accounts to identities at connections ahead of time, from a CSV file with the
header accountUuid,authModule,identifier (and optionally secret), through the GraphQL bulk
mutation of the Gatehouse server at --url. The integration client (scope graphql) comes from
GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET or the flags; its token is renewed as needed.

Rows go out in chunks, several requests at a time; rows that touch the same identity or the
same account and connection are sent in file order, so the outcome is that of the file's order.
Binding is idempotent: running the same file again changes nothing and reports the same.

The results CSV (--out, default standard output) has one row per input row, in input order:
the input columns (a secret shown as [redacted]) plus status (ok, or the error code: INVALID,
NOT_FOUND, TAKEN, ..., ERROR when the request failed) and message. A malformed row (bad UUID,
blank identifier, wrong number of fields) is a failed row, not an abort; a quote left open
over the following rows refuses the file before anything is sent. The exit status is 1 when
any row failed.

--dry-run writes nothing on the server: the server decides every row as the real run would
(accounts, connections, identities taken, scope) and binds nothing; each row gets the status
the real run would give it now, ok rows the message "dry run: would be bound, nothing written".
Rows that depend on each other are checked together unless their group is larger than
--chunk-size; then the rows checked apart say so, and a warning ends the run.`,
		Args: noArgs,
	}
	cmd.Flags().StringVar(&o.URL, "url", "", "Gatehouse base URL, e.g. https://gatehouse.example.com (required)")
	cmd.Flags().StringVar(&csvPath, "csv", "", "input CSV file, - for standard input (required)")
	cmd.Flags().StringVar(&outPath, "out", "", "results CSV file (default: standard output)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "check the rows without binding anything (see above)")
	cmd.Flags().StringVar(&o.ClientID, "client-id", "", "integration client id (default $GATEHOUSE_CLIENT_ID)")
	cmd.Flags().StringVar(&o.ClientSecret, "client-secret", "", "integration client secret (default $GATEHOUSE_CLIENT_SECRET; prefer the variable: flags show in ps)")
	cmd.Flags().IntVar(&o.ChunkSize, "chunk-size", 500, fmt.Sprintf("rows per request (at most %d)", bindcli.MaxChunk))
	cmd.Flags().IntVar(&o.Concurrency, "concurrency", 4, fmt.Sprintf("requests in flight (at most %d)", maxBindConcurrency))
	setEnvHelp(cmd, "bind")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.URL == "" || csvPath == "" {
			return usage(cmd, fmt.Errorf("bind needs --url and --csv"))
		}
		if o.ClientID == "" {
			o.ClientID = getenv("GATEHOUSE_CLIENT_ID")
		}
		if o.ClientSecret == "" {
			o.ClientSecret = getenv("GATEHOUSE_CLIENT_SECRET")
		}
		if o.ClientID == "" || o.ClientSecret == "" {
			return usage(cmd, fmt.Errorf("bind needs client credentials: set GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET (or --client-id, --client-secret)"))
		}
		if o.ChunkSize < 1 || o.ChunkSize > bindcli.MaxChunk || o.Concurrency < 1 || o.Concurrency > maxBindConcurrency {
			return usage(cmd, fmt.Errorf("--chunk-size must be 1-%d and --concurrency 1-%d", bindcli.MaxChunk, maxBindConcurrency))
		}
		// The input is read twice: once whole, to refuse before anything is sent a file that
		// cannot be read as rows (a quote left open) and to count its rows, holding none of
		// them; then a window of rows at a time, each sent and its results written before the
		// next is read. Standard input or a pipe cannot be read again: it is held in memory
		// as read (not as rows), which a large file had better avoid.
		var in io.ReadSeeker
		if csvPath == "-" {
			b, err := io.ReadAll(os.Stdin)
			if err != nil {
				return fmt.Errorf("bind: read standard input: %w", err)
			}
			in = bytes.NewReader(b)
		} else {
			f, err := os.Open(csvPath)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
			if _, err := f.Seek(0, io.SeekCurrent); err != nil { // a pipe
				b, err := io.ReadAll(f)
				if err != nil {
					return fmt.Errorf("bind: read %s: %w", csvPath, err)
				}
				in = bytes.NewReader(b)
			}
		}
		plan, err := bindcli.Check(in, o.DryRun)
		if err != nil {
			return err
		}
		if _, err := in.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("bind: read %s again: %w", csvPath, err)
		}
		rd, err := bindcli.NewReader(in)
		if err != nil {
			return err
		}
		// Open the output before the work, so a wrong path fails before anything is bound.
		out := stdout
		if outPath != "" {
			res, err := createResults(outPath)
			if err != nil {
				return err
			}
			defer res.abort() // unless committed: the file stays as it was
			out = res
			commit = res.commit
		}
		rw, err := bindcli.NewResultWriter(out, rd.File())
		if err != nil {
			return fmt.Errorf("bind: write results: %w", err)
		}
		start := time.Now()
		p := newProgress(stderr, plan.Rows)
		o.Progress = p.add
		var warnings []string // shown after the progress bar
		o.Warn = func(msg string) { warnings = append(warnings, msg) }
		total, failed := 0, 0
		err = bindcli.Stream(cmd.Context(), o, rd, plan, func(rows []*bindcli.Row) error {
			for _, r := range rows {
				if r.Status != bindcli.StatusOK {
					failed++
				}
				if err := rw.Write(r); err != nil {
					return fmt.Errorf("bind: write results: %w", err)
				}
			}
			total += len(rows)
			if err := rw.Flush(); err != nil {
				return fmt.Errorf("bind: write results: %w", err)
			}
			return nil
		})
		p.finish()
		for _, w := range warnings {
			fmt.Fprintln(stderr, "bind: warning: "+w)
		}
		if err != nil && cmd.Context().Err() != nil {
			if o.DryRun { // nothing to finish: --out is left as it was too
				return fmt.Errorf("bind: dry run interrupted; nothing was written")
			}
			kept := ""
			if outPath != "" {
				kept = fmt.Sprintf("; %s is left as it was", outPath)
			}
			return fmt.Errorf("bind: interrupted; the rows already sent stay bound: run the same file again to finish (binding is idempotent)%s", kept)
		}
		if err != nil {
			return err
		}
		if err := commit(); err != nil {
			return fmt.Errorf("bind: write results: %w", err)
		}
		d := time.Since(start)
		verb, ok, bad := "decided", "bound", "failed"
		if o.DryRun {
			verb, ok, bad = "checked by the server (dry run, nothing written)", "would be bound", "would fail"
		}
		rows := "rows"
		if total == 1 {
			rows = "row"
		}
		fmt.Fprintf(stderr, "bind: %d %s %s in %s (%.0f rows/s): %d %s, %d %s\n", total, rows, verb,
			d.Round(time.Millisecond), float64(total)/max(d.Seconds(), 1e-3), total-failed, ok, failed, bad)
		if failed > 0 {
			return exitError{1}
		}
		return nil
	}
	return cmd
}

// results is bind's --out file, written whole or not at all: the rows go to a temporary file
// beside it, renamed over it once every row is decided. A run interrupted (Ctrl-C, a lost
// server, a crash) leaves the file as it was, instead of emptied or cut short with no sign;
// a crash leaves the temporary file, named .<name>.partial-<random>.
type results struct {
	*os.File
	path      string
	committed bool
}

func createResults(path string) (*results, error) {
	// A link is followed, so that it keeps pointing at the results; a device or a pipe
	// (/dev/stdout) cannot be replaced and is written in place.
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		return &results{File: f, path: path, committed: true}, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*") // 0600
	if err != nil {
		return nil, err
	}
	if fi != nil {
		f.Chmod(fi.Mode().Perm()) // a file replaced keeps its permissions
	}
	return &results{File: f, path: path}, nil
}

// commit puts the results in place.
func (r *results) commit() error {
	if r.committed {
		return r.Close()
	}
	if err := r.Sync(); err != nil {
		return err
	}
	if err := r.Close(); err != nil {
		return err
	}
	if err := os.Rename(r.Name(), r.path); err != nil {
		return err
	}
	r.committed = true
	return store.SyncDir(r.path)
}

// abort removes the results of a run that did not finish.
func (r *results) abort() {
	if !r.committed {
		r.Close()
		os.Remove(r.Name())
	}
}

// progress shows a bar with rate and ETA on a terminal, and a plain line every few seconds
// otherwise (logs, CI).
type progress struct {
	mu           sync.Mutex
	bar          *progressbar.ProgressBar
	w            io.Writer
	total        int
	done, failed int
	start, last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, start: time.Now(), last: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("binding"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
	}
	return p
}

func (p *progress) add(n, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.failed += failed
	if p.bar != nil {
		p.bar.Add(n)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= 2*time.Second {
		p.last = now
		p.line(now)
	}
}

func (p *progress) line(now time.Time) {
	el := now.Sub(p.start).Seconds()
	rate := float64(p.done) / max(el, 1e-3)
	eta := "?"
	if rate > 0 {
		eta = time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "bind: %d/%d rows (%d%%), %d failed, %.0f rows/s, ETA %s\n", p.done, p.total,
		p.done*100/max(p.total, 1), p.failed, rate, eta)
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
}
