// Package dnstest runs a DNS server in process for tests: it answers TXT queries from what a
// test publishes, as a domain's owner publishes its proof of ownership.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// TXTServer is a DNS server on a loopback UDP port that answers TXT queries from what the test
// publishes, as a domain's owner publishes its proof. Point app.Config.DNSServer at Addr.
type TXTServer struct {
	Addr    string
	mu      sync.Mutex
	records map[string][]string // by name, lower case with the trailing dot
	rcodes  map[string]int      // names answered with an error instead (Fail)
}

// NewTXTServer starts a TXTServer, stopped when the test ends.
func NewTXTServer(t testing.TB) *TXTServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &TXTServer{Addr: pc.LocalAddr().String(), records: map[string][]string{}, rcodes: map[string]int{}}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		s.mu.Lock()
		txts, ok := s.records[strings.ToLower(q.Question[0].Name)]
		rcode, fails := s.rcodes[strings.ToLower(q.Question[0].Name)]
		s.mu.Unlock()
		switch {
		case fails:
			m.Rcode = rcode
		case !ok:
			m.Rcode = dns.RcodeNameError
		}
		for _, v := range txts {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{v}})
		}
		rw.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return s
}

// Publish sets the TXT values of name (replacing earlier ones).
func (s *TXTServer) Publish(name string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[strings.ToLower(dns.Fqdn(name))] = values
}

// Fail answers the queries of name with rcode (dns.RcodeServerFailure: a resolver that
// could not reach the domain's name servers), whatever is published there.
func (s *TXTServer) Fail(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcodes[strings.ToLower(dns.Fqdn(name))] = rcode
}

// Reset forgets every record and failure (a test that runs again on another database).
func (s *TXTServer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.records)
	clear(s.rcodes)
}
