package main

import (
	"context"
	"errors"
	"io"
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
// output is one, else a file created 0600 on first write (its path, never the secret, goes to
// the log). The JSON log stream on standard output is collected by log pipelines; a secret
// must not end up there. The log names the file by its absolute path: the default is relative
// to a working directory the reader of the log may not know (the image's /data, a service's /).
func bootstrapOutput(path string, log *slog.Logger) io.Writer {
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		return os.Stdout
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return &secretFile{path: path, log: log}
}

type secretFile struct {
	path string
	log  *slog.Logger
	f    *os.File
	err  error
}

func (s *secretFile) Write(b []byte) (int, error) {
	if s.f == nil && s.err == nil {
		// A file left by an earlier bootstrap holds another secret: replace it.
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.err = err
		} else {
			s.f, s.err = os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		}
		if s.err != nil {
			s.log.Error("bootstrap: cannot write the generated admin secret; set GATEHOUSE_BOOTSTRAP_CLIENT_ID and _SECRET instead", "path", s.path, "err", s.err)
		} else {
			s.log.Warn("bootstrap: the generated admin credentials were written once to a file readable by this user only; read it, store the secret, delete the file", "path", s.path)
		}
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.f.Write(b)
	if err == nil {
		err = s.f.Sync()
	}
	return n, err
}

// Close closes the file, if one was written.
func (s *secretFile) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
