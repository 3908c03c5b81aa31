package sso

import (
	"sync"

	"github.com/google/uuid"
)

// waits bounds how many requests of one connection wait on its identity provider at once (its
// discovery document, token endpoint, JWKS or userinfo). Each waiting request holds one of the
// server's admission slots (GATEHOUSE_MAX_CONCURRENT_REQUESTS) for as long as the IdP takes,
// up to the outbound timeout: without a bound, one IdP that answers slowly or not at all, a
// customer's incident or a hostile IdP's design, takes every slot, and every other
// connection's sign-ins and the whole API answer 503. Past the bound a sign-in fails at once
// instead ("the identity provider is not answering"), and the other slots stay free.
type waits struct {
	max int // 0: no bound
	mu  sync.Mutex
	n   map[uuid.UUID]int
}

func newWaits(max int) *waits { return &waits{max: max, n: map[uuid.UUID]int{}} }

// do runs fn unless max requests of the connection already wait on its IdP, and reports
// whether it ran.
func (w *waits) do(connection uuid.UUID, fn func()) bool {
	if w.max <= 0 {
		fn()
		return true
	}
	w.mu.Lock()
	if w.n[connection] >= w.max {
		w.mu.Unlock()
		return false
	}
	w.n[connection]++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.n[connection]--; w.n[connection] == 0 {
			delete(w.n, connection)
		}
		w.mu.Unlock()
	}()
	fn()
	return true
}
