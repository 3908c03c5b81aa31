package models

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
)

// Names of the proofs a domain owner publishes. The document this API follows says
// _worldflow-verify/worldflow-verify=; Gatehouse uses its own name.
const (
	DomainTXTPrefix         = "_gatehouse-verify."
	DomainTokenPrefix       = "gatehouse-verify="
	DomainHTTPSFilePath     = "/.well-known/gatehouse-verify.txt"
	MaxDomainsPerConnection = 100
)

// DNSRecord is the TXT record that proves control of a domain.
type DNSRecord struct {
	RecordType string
	Name       string
	Value      string
}

// HTTPSFile is the file that proves control of a domain.
type HTTPSFile struct {
	URL      string
	Contents string
}

// DNSRecord returns the TXT record to publish for a dns-txt domain, or nil.
func (d *Domain) DNSRecord() *DNSRecord {
	if d.VerificationMethod != VerifyDNSTXT {
		return nil
	}
	return &DNSRecord{RecordType: "TXT", Name: DomainTXTPrefix + d.Name, Value: d.VerificationToken}
}

// HTTPSFile returns the file to publish for an https-file domain, or nil.
func (d *Domain) HTTPSFile() *HTTPSFile {
	if d.VerificationMethod != VerifyHTTPSFile {
		return nil
	}
	return &HTTPSFile{URL: "https://" + d.Name + DomainHTTPSFilePath, Contents: d.VerificationToken}
}

// MarshalGQL writes the status as a GraphQL enum value (PENDING, VERIFIED, FAILED).
func (s DomainStatus) MarshalGQL(w io.Writer) { fmt.Fprintf(w, "%q", strings.ToUpper(string(s))) }

// UnmarshalGQL reads a GraphQL enum value.
func (s *DomainStatus) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("status must be a string")
	}
	switch DomainStatus(strings.ToLower(str)) {
	case DomainPending, DomainVerified, DomainFailed:
		*s = DomainStatus(strings.ToLower(str))
		return nil
	}
	return fmt.Errorf("%q is not a valid DomainStatus", str)
}

// MaxIdPURLLength bounds a URL ValidIdPURL accepts, in bytes.
const MaxIdPURLLength = 2048

// ValidIdPURL is THE rule for URLs Gatehouse fetches on an admin's behalf (issuer, discovery,
// JWKS, SSO and metadata URLs, and every redirect on the way): absolute https, no user info;
// plain http only for loopback hosts and only while private networks are allowed (local
// development and tests). Where the address finally points is checked again at connect time.
func ValidIdPURL(raw string, allowPrivate bool) bool {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || len(raw) > MaxIdPURLLength {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		return allowPrivate && (host == "localhost" || ip != nil && ip.IsLoopback())
	}
	return false
}
