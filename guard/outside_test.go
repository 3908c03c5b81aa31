package guard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// outsideServer serves g with two routes: /wait waits on "another service" through Outside
// until endWait closes (inWait says it is there), and /hold keeps its slot until endHold closes.
type outsideServer struct {
	*httptest.Server
	inWait, endWait, inHold, endHold chan struct{}
	ends                             [2]sync.Once
}

// end lets /wait's wait (0) or /hold's (1) finish; again is nothing.
func (s *outsideServer) end(which int) {
	s.ends[which].Do(func() { close([2]chan struct{}{s.endWait, s.endHold}[which]) })
}

type answer struct {
	status int
	body   string
}

func newOutsideServer(t *testing.T, g *Guard) *outsideServer {
	s := &outsideServer{inWait: make(chan struct{}, 1), endWait: make(chan struct{}),
		inHold: make(chan struct{}, 1), endHold: make(chan struct{})}
	s.Server = httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/wait":
			if !Outside(r.Context(), func() { s.inWait <- struct{}{}; <-s.endWait }) {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "back")
		case "/hold":
			s.inHold <- struct{}{}
			<-s.endHold
		}
	})))
	t.Cleanup(func() { s.end(0); s.end(1); s.Close() }) // a failed test leaves no handler waiting
	return s
}

// get requests path in the background; its answer comes on answers.
func (s *outsideServer) get(t *testing.T, path string, answers chan<- answer) {
	go func() {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Error(err)
			answers <- answer{}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers <- answer{resp.StatusCode, string(b)}
	}()
}

// A request waiting on another service through Outside holds no admission slot: another
// request is served meanwhile. Once the wait is over, the request takes a slot again, waiting
// for one beyond the queue timeout (it is half done), and answers; when no slot comes before
// its deadline, Outside reports false. Slots are given back exactly once either way.
func TestOutsideGivesTheSlotBack(t *testing.T) {
	const queue = 50 * time.Millisecond
	g := New(Config{MaxConcurrent: 1, PriorityConcurrent: 1, QueueTimeout: queue, RequestTimeout: 5 * time.Second})
	s := newOutsideServer(t, g)
	answers := make(chan answer, 2)
	s.get(t, "/wait", answers)
	<-s.inWait
	// The one slot is free while /wait waits outside it: /hold is served, and keeps it.
	s.get(t, "/hold", answers)
	select {
	case <-s.inHold:
	case a := <-answers:
		t.Fatalf("a request was refused while the only other one waited outside its slot: %+v", a)
	}
	s.end(0)
	time.Sleep(4 * queue)
	select {
	case a := <-answers:
		t.Fatalf("answered while the slot was held, past the queue timeout: %+v", a)
	default:
	}
	s.end(1)
	if a, b := <-answers, <-answers; a.status != 200 || b.status != 200 || a.body+b.body != "back" {
		t.Fatalf("answers: %+v %+v", a, b)
	}
	time.Sleep(10 * time.Millisecond) // the handlers' deferred give-backs run as they answer
	if len(g.general) != 0 {
		t.Fatalf("%d slots still taken", len(g.general))
	}

	// No slot before the deadline: Outside reports false, and nothing is given back twice.
	g = New(Config{MaxConcurrent: 1, PriorityConcurrent: 1, QueueTimeout: queue, RequestTimeout: 300 * time.Millisecond})
	s = newOutsideServer(t, g)
	s.get(t, "/wait", answers)
	<-s.inWait
	s.get(t, "/hold", answers)
	<-s.inHold
	s.end(0)
	if a := <-answers; a.status != http.StatusServiceUnavailable {
		t.Fatalf("no slot before the deadline: %+v", a)
	}
	s.end(1)
	<-answers
	time.Sleep(10 * time.Millisecond) // the handler's deferred give-back runs after the answer
	if len(g.general) != 0 {
		t.Fatalf("%d slots still taken", len(g.general))
	}
}

// Sign-ins' starts (/oauth/authorize) take at most three quarters of the general slots: with
// three starts served, a fourth waits its queue timeout and is refused, while a callback of a
// sign-in under way is served in the quarter kept for it. A start waiting outside its slots
// (Outside) gives back both, and takes both again.
func TestStartsLeaveAQuarterOfTheSlots(t *testing.T) {
	g := New(Config{MaxConcurrent: 4, PriorityConcurrent: 1, QueueTimeout: 50 * time.Millisecond, RequestTimeout: 5 * time.Second})
	in, end := make(chan struct{}, 8), make(chan struct{})
	var ended sync.Once
	outside := make(chan struct{}, 1)
	srv := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("outside") != "" {
			Outside(r.Context(), func() { outside <- struct{}{}; <-end })
			return
		}
		in <- struct{}{}
		<-end
	})))
	t.Cleanup(func() { ended.Do(func() { close(end) }); srv.Close() })
	answers := make(chan int, 8)
	get := func(path string) { getStatus(t, srv.URL+path, answers) }
	for range 3 {
		get("/oauth/authorize")
		<-in
	}
	get("/oauth/authorize")
	select {
	case status := <-answers:
		if status != http.StatusServiceUnavailable {
			t.Fatalf("a fourth start while three are served: %d", status)
		}
	case <-in:
		t.Fatal("a fourth start was served beside three")
	}
	get("/sso/oidc/callback")
	select {
	case <-in:
	case status := <-answers:
		t.Fatalf("a callback with three starts served: %d", status)
	}
	ended.Do(func() { close(end) })
	for range 4 {
		if status := <-answers; status != 200 {
			t.Fatalf("a served request: %d", status)
		}
	}

	// A start waiting outside its slots holds neither: three more starts are served meanwhile.
	end = make(chan struct{})
	ended = sync.Once{}
	get("/oauth/authorize?outside=1")
	<-outside
	for range 3 {
		get("/oauth/authorize")
		select {
		case <-in:
		case status := <-answers:
			t.Fatalf("a start while another waits outside its slots: %d", status)
		}
	}
	ended.Do(func() { close(end) })
	for range 4 {
		if status := <-answers; status != 200 {
			t.Fatalf("a served request: %d", status)
		}
	}
	time.Sleep(10 * time.Millisecond) // the handlers' deferred give-backs run as they answer
	if len(g.general) != 0 || len(g.starts) != 0 {
		t.Fatalf("slots still taken: %d general, %d starts", len(g.general), len(g.starts))
	}
}

// A start refused for want of a general slot, at admission or when Outside takes its slots
// again, gives back the slot of starts it took first: else every such refusal under overload
// keeps one for good, and after three quarters of the slots' worth of them no sign-in starts.
func TestStartsSlotGivenBackWhenTheGeneralOneIsRefused(t *testing.T) {
	g := New(Config{MaxConcurrent: 4, PriorityConcurrent: 1, QueueTimeout: 50 * time.Millisecond, RequestTimeout: 300 * time.Millisecond})
	in, end := make(chan struct{}, 8), make(chan struct{})
	outside, endOutside := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("outside") != "" {
			if !Outside(r.Context(), func() { outside <- struct{}{}; <-endOutside }) {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		in <- struct{}{}
		<-end
	})))
	var ended, endedOutside sync.Once
	t.Cleanup(func() { ended.Do(func() { close(end) }); endedOutside.Do(func() { close(endOutside) }); srv.Close() })
	answers := make(chan int, 8)
	get := func(path string) { getStatus(t, srv.URL+path, answers) }
	// Four callbacks hold every general slot: a start takes a slot of starts, waits for a
	// general one, is refused, and gives the first back.
	for range 4 {
		get("/sso/oidc/callback")
		<-in
	}
	get("/oauth/authorize")
	if status := <-answers; status != http.StatusServiceUnavailable {
		t.Fatalf("a start with every general slot held: %d", status)
	}
	if n := len(g.starts); n != 0 {
		t.Fatalf("a start refused at admission keeps %d slots of starts", n)
	}
	ended.Do(func() { close(end) })
	for range 4 {
		<-answers
	}

	// A start waiting outside its slots while four callbacks take every general slot: Outside
	// takes a slot of starts again, finds no general one before the deadline, and gives it back.
	end, ended = make(chan struct{}), sync.Once{}
	get("/oauth/authorize?outside=1")
	<-outside
	for range 4 {
		get("/sso/oidc/callback")
		<-in
	}
	endedOutside.Do(func() { close(endOutside) })
	if status := <-answers; status != http.StatusServiceUnavailable {
		t.Fatalf("Outside with every general slot held past the deadline: %d", status)
	}
	if n := len(g.starts); n != 0 {
		t.Fatalf("a start whose Outside found no general slot keeps %d slots of starts", n)
	}
	ended.Do(func() { close(end) })
	for range 4 {
		<-answers
	}
	time.Sleep(10 * time.Millisecond) // the handlers' deferred give-backs run as they answer
	if len(g.general) != 0 || len(g.starts) != 0 {
		t.Fatalf("slots still taken: %d general, %d starts", len(g.general), len(g.starts))
	}
}

// getStatus requests u in the background; its status comes on answers (0: no answer).
func getStatus(t *testing.T, u string, answers chan<- int) {
	go func() {
		resp, err := http.Get(u)
		if err != nil {
			t.Error(err)
			answers <- 0
			return
		}
		resp.Body.Close()
		answers <- resp.StatusCode
	}()
}
