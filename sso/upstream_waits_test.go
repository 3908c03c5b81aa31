package sso

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/google/uuid"

	"gatehouse/models"
)

// A connection's requests wait on its IdP up to the bound, a workspace's connections together
// up to twice the bound, and another workspace's are not counted against either; a wait that
// ends frees its place in both counts.
func TestWaitsBoundConnectionsAndWorkspaces(t *testing.T) {
	const max = 2
	w := newWaits(max)
	ws, other := uuid.New(), uuid.New()
	conn := func(ws uuid.UUID) *models.Connection { return &models.Connection{ID: uuid.New(), WorkspaceID: ws} }
	a, b, c, d := conn(ws), conn(ws), conn(ws), conn(other)
	var ends []chan struct{}
	t.Cleanup(func() {
		for _, end := range ends {
			close(end)
		}
	})
	// wait starts a request waiting on the IdP of c, until its end closes; nil: it waits.
	wait := func(c *models.Connection) error {
		waiting, refused, end := make(chan struct{}), make(chan error, 1), make(chan struct{})
		go func() { refused <- w.do(context.Background(), c, func() { close(waiting); <-end }) }()
		select {
		case <-waiting:
			ends = append(ends, end)
			return nil
		case err := <-refused:
			return err
		}
	}
	check := func(step string, err error, refused, workspace bool) {
		t.Helper()
		var busy errUpstreamBusy
		switch {
		case !refused && err != nil:
			t.Fatalf("%s: refused: %v", step, err)
		case refused && (!errors.As(err, &busy) || busy.workspace != workspace):
			t.Fatalf("%s: %v, want refused for the %s's bound", step, err, map[bool]string{false: "connection", true: "workspace"}[workspace])
		}
	}
	check("a first wait of a", wait(a), false, false)
	check("a second wait of a", wait(a), false, false)
	check("a third wait of a", wait(a), true, false)
	check("a first wait of b", wait(b), false, false)
	check("a second wait of b", wait(b), false, false)
	check("a wait of c, with twice the bound waiting in its workspace", wait(c), true, true)
	check("a wait of another workspace's d", wait(d), false, false)
	close(ends[0]) // one of a's waits ends
	ends = ends[1:]
	for w.count(a) != 1 { // the deferred count down runs as the wait returns
		runtime.Gosched()
	}
	check("a wait of c once one of a's ended", wait(c), false, false)
	check("a wait of a, at its bound again with its workspace", wait(a), true, true)
}

// count is how many requests of c wait on its IdP.
func (w *waits) count(c *models.Connection) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[c.ID]
}
