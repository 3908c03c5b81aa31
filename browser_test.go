package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's Chromium (or another Chrome) on PATH.
func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserTab is one tab of a headless Chromium for a browser test; its helpers fail the test.
type browserTab struct {
	t   *testing.T
	ctx context.Context
	// detail, when set, adds what the test knows to a failed wait's message.
	detail func() string
}

// newBrowserTab starts Chromium with a window of width×height, or skips the test when there is
// no Chromium or in -short mode. Everything the tab does must end within timeout.
func newBrowserTab(t *testing.T, width, height int, timeout time.Duration) *browserTab {
	t.Helper()
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no chromium on PATH (apt-get install chromium)")
	}
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(width, height))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a deadline
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancelRun := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancelRun)
	return &browserTab{t: t, ctx: ctx}
}

// screenshot saves the whole page as name in the test's artifact directory (go test -artifacts).
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(b.t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// js evaluates an expression in the page.
func (b *browserTab) js(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a page predicate; on timeout it saves failed.png and fails the test.
func (b *browserTab) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(timeout))); err != nil {
		b.screenshot("failed.png")
		detail := b.js(`document.body.innerText.slice(0, 3000)`)
		if b.detail != nil {
			detail = b.detail()
		}
		b.t.Fatalf("waiting for %s: %v\n%s", what, err, detail)
	}
}

// do runs actions, failing the test on an error.
func (b *browserTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.screenshot("failed.png")
		b.t.Fatalf("%s: %v", what, err)
	}
}
