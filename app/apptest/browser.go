package apptest

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

// BrowserTab is one tab of a headless Chromium for a browser test; its helpers fail the test.
type BrowserTab struct {
	t   *testing.T
	Ctx context.Context
	// Detail, when set, adds what the test knows to a failed wait's message.
	Detail func() string
}

// NewBrowserTab starts Chromium with a window of width×height, or skips the test when there is
// no Chromium or in -short mode. Everything the tab does must end within timeout.
func NewBrowserTab(t *testing.T, width, height int, timeout time.Duration) *BrowserTab {
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
	return &BrowserTab{t: t, Ctx: ctx}
}

// Screenshot saves the whole page as name in the test's artifact directory (go test -artifacts).
func (b *BrowserTab) Screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(b.t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// JS evaluates an expression in the page.
func (b *BrowserTab) JS(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// WaitFor polls a page predicate; on timeout it saves failed.png and fails the test.
func (b *BrowserTab) WaitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	if _, err := chromedp.Run(b.Ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(timeout))); err != nil {
		b.Screenshot("failed.png")
		detail := b.JS(`document.body.innerText.slice(0, 3000)`)
		if b.Detail != nil {
			detail = b.Detail()
		}
		b.t.Fatalf("waiting for %s: %v\n%s", what, err, detail)
	}
}

// Do runs actions, failing the test on an error.
func (b *BrowserTab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.Screenshot("failed.png")
		b.t.Fatalf("%s: %v", what, err)
	}
}
