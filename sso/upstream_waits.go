package sso

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"gatehouse/guard"
	"gatehouse/models"
)

// waits runs a sign-in's calls to its connection's identity provider (discovery, the token
// endpoint with the key set, userinfo) outside the request's admission slot (guard.Outside),
// so that an IdP answering slowly or not at all, a customer's incident or a hostile IdP's
// design, holds none of the slots the rest of the server needs. It bounds how many requests
// of one connection wait on its IdP at once, since each still holds a goroutine, a browser's
// connection and a socket to the IdP for up to the outbound timeout: past the bound a sign-in
// fails at once, saying the IdP is not answering. A workspace's connections together wait at
// most twice that: the connections are the workspace admin's to create, and a hostile one
// with many connections to a hung IdP would otherwise hold the bound's memory and sockets
// many times over; twice, so that one hung IdP leaves the workspace's others room.
type waits struct {
	max int // per connection; 0: no bound
	mu  sync.Mutex
	// n counts the waiting requests by connection, inWorkspace by workspace.
	n, inWorkspace map[uuid.UUID]int
}

func newWaits(max int) *waits {
	return &waits{max: max, n: map[uuid.UUID]int{}, inWorkspace: map[uuid.UUID]int{}}
}

// errUpstreamBusy: the connection, or its workspace, has its bound of requests waiting on
// identity providers already.
type errUpstreamBusy struct {
	n         int
	workspace bool
}

func (e errUpstreamBusy) Error() string {
	if e.workspace {
		return fmt.Sprintf("%d requests of this workspace's connections already wait on their identity providers, which answer slowly or not at all "+
			"(the bound keeps the server's other sign-ins and API answering)", e.n)
	}
	return fmt.Sprintf("%d requests of this connection already wait on its identity provider, which answers slowly or not at all "+
		"(the bound keeps the server's other sign-ins and API answering)", e.n)
}

// errNoSlotAgain: the IdP answered, but the server was too busy to take the request back
// before its deadline.
var errNoSlotAgain = errors.New("the identity provider answered, but no admission slot was free again before the request's deadline (the server is overloaded)")

// busyPublic is what the person reads when do refused or could not finish.
const busyPublic = "The identity provider is not answering in time. Try again in a moment."

// do runs fn, a call to the connection's IdP, outside the request's admission slot. It
// returns errUpstreamBusy, without running fn, when max requests of the connection, or twice
// that of its workspace, already wait on IdPs, and errNoSlotAgain when fn ran but the request
// could not take a slot again.
func (w *waits) do(ctx context.Context, c *models.Connection, fn func()) error {
	if w.max > 0 {
		conn, ws := c.ID, c.WorkspaceID
		w.mu.Lock()
		switch {
		case w.n[conn] >= w.max:
			w.mu.Unlock()
			return errUpstreamBusy{n: w.max}
		case w.inWorkspace[ws] >= 2*w.max:
			w.mu.Unlock()
			return errUpstreamBusy{n: 2 * w.max, workspace: true}
		}
		w.n[conn]++
		w.inWorkspace[ws]++
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			if w.n[conn]--; w.n[conn] == 0 {
				delete(w.n, conn)
			}
			if w.inWorkspace[ws]--; w.inWorkspace[ws] == 0 {
				delete(w.inWorkspace, ws)
			}
			w.mu.Unlock()
		}()
	}
	if !guard.Outside(ctx, fn) {
		return errNoSlotAgain
	}
	return nil
}

// waitFailed reports whether err is do's, perhaps wrapped (provider's discovery): the IdP had
// too many requests waiting, or the server no slot for the request after the wait.
func waitFailed(err error) bool {
	return errors.As(err, new(errUpstreamBusy)) || errors.Is(err, errNoSlotAgain)
}

// publicOf is the person's message for an error of do.
func publicOf(err error) string {
	if errors.Is(err, errNoSlotAgain) {
		return "Gatehouse is too busy to finish the sign-in. Try again in a moment."
	}
	return busyPublic
}
