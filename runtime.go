package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"gatehouse/app"
	"gatehouse/guard"
)

// serve answers on ln until ctx ends (SIGTERM), then drains: /readyz answers 503 at once and
// every answer closes its connection (so keep-alive clients reconnect, to another replica once
// the load balancer noticed), for the drain period; then the server stops accepting and
// finishes the requests in flight. Idle connections are closed only then: closing them at
// once would race with requests their clients are sending.
func serve(ctx context.Context, ln net.Listener, srv *http.Server, g *guard.Guard, drain time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	g.Drain()
	log.Info("shutting down: draining", "drain", drain)
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case err := <-errc:
		return err
	case <-t.C:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), app.WriteTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// bootstrapOutput is where a generated admin secret is shown once: the terminal when standard
// output is one, else a file created 0600 (its path, never the secret, goes to the log). The
// JSON log stream on standard output is collected by log pipelines; a secret must not end up
// there, nor on standard error, which they collect too. The log names the file by its
// absolute path: the default is relative to a working directory the reader of the log may not
// know (the image's /data, a service's /).
func bootstrapOutput(path string, log *slog.Logger) io.Writer {
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return os.Stdout
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return &secretFile{path: path, log: log}
}

// secretFile is the file of GATEHOUSE_BOOTSTRAP_SECRET_FILE (app.SecretOutput). Each Write is
// the whole of it.
type secretFile struct {
	path  string
	log   *slog.Logger
	wrote [sha256.Size]byte // what the last Write wrote, for Withdraw
	// checked, unless nil, runs when Withdraw has read the file, before it acts on what it
	// read: a test writes another start's secret there then.
	checked func()
}

// CheckWritable tells whether the file could be made, by making and removing a temporary file
// beside it: that proves its directory exists and that this user may create and remove files
// there, which Write does. The file itself is not tried: one left by an earlier bootstrap
// (which Write replaces) would be in the way of O_EXCL, and would have to be removed by a
// start that may fail next for another reason.
func (s *secretFile) CheckWritable() error {
	if fi, err := os.Stat(s.path); err == nil && fi.IsDir() {
		return s.unwritable(errors.New("it is a directory"))
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), ".gatehouse-bootstrap-check-*")
	if err != nil {
		return s.unwritable(err)
	}
	f.Close()
	if err := os.Remove(f.Name()); err != nil {
		return s.unwritable(err)
	}
	return nil
}

// Write replaces the file by one holding b, synced, and removes what it wrote when it fails:
// a secret the bootstrap then rolls back (app.New) opens nothing.
func (s *secretFile) Write(b []byte) (int, error) {
	// A file left by an earlier bootstrap holds another secret: replace it.
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, s.unwritable(err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, s.unwritable(err)
	}
	n, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(s.path)
		return 0, s.unwritable(err)
	}
	s.wrote = sha256.Sum256(b)
	s.log.Warn("bootstrap: the generated admin credentials were written once to a file readable by this user only; read it, store the secret, delete the file", "path", s.path)
	return n, nil
}

// Withdraw removes the file Write made, whose secret the bootstrap did not keep, unless it
// holds something else since: a start running beside this one (a replica sharing the volume)
// may have written its own, which works. The content tells, not the inode, which a file
// made at once in its place may get again. The file is moved aside before it is read, so
// that what is removed is what was read: read in place and then removed, it could be
// replaced between the two by that start's (whose Write removes ours and creates its own),
// and the working secret would be removed.
func (s *secretFile) Withdraw() (string, error) {
	aside, err := os.CreateTemp(filepath.Dir(s.path), ".gatehouse-bootstrap-withdrawn-*")
	if err == nil {
		aside.Close()
		if err = os.Rename(s.path, aside.Name()); err != nil {
			os.Remove(aside.Name())
		}
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "it was removed from " + s.path + " already", nil
	case err != nil:
		return "", s.cannotRemove(err)
	}
	b, err := os.ReadFile(aside.Name())
	if s.checked != nil {
		s.checked()
	}
	if err == nil && sha256.Sum256(b) == s.wrote {
		if err := os.Remove(aside.Name()); err != nil {
			return "", s.cannotRemove(err)
		}
		s.log.Warn("bootstrap: the generated admin credentials written to the file were not kept; removed the file", "path", s.path)
		return "it was removed from " + s.path, nil
	}
	// Another start's (or unreadable): put back, unless yet another file is there since (a
	// later start's); a file system without hard links gets it back by a rename.
	if lerr := os.Link(aside.Name(), s.path); lerr != nil && !errors.Is(lerr, os.ErrExist) {
		os.Rename(aside.Name(), s.path)
	}
	os.Remove(aside.Name())
	if err != nil {
		return "", s.cannotRemove(err)
	}
	return s.path + " was left: it holds another start's secret", nil
}

// cannotRemove is Withdraw's error: the file may hold a secret that opens nothing.
func (s *secretFile) cannotRemove(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot remove it from %s: %v; delete the file", s.path, err)
}

// unwritable is the start's error when the secret cannot go to the file: it names the setting
// and the way around it (the operation's own path, a temporary file's, is left out).
func (s *secretFile) unwritable(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("GATEHOUSE_BOOTSTRAP_SECRET_FILE: cannot write the generated admin secret to %s: %v "+
		"(set it to a file in a writable directory, or choose the credentials: "+
		"GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET)", s.path, err)
}
