package provision

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/uuid"
	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"gatehouse/models"
	"gatehouse/secret"
	"gatehouse/store"
)

// publicEmailDomains are mailbox providers anyone can get an address at: proving control of
// one is impossible for a customer, and routing it to one customer's IdP would capture
// strangers' sign-ins.
var publicEmailDomains = map[string]bool{}

func init() {
	for _, d := range strings.Fields(`gmail.com googlemail.com outlook.com hotmail.com hotmail.co.uk
		hotmail.fr live.com live.co.uk msn.com passport.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de
		yahoo.co.jp ymail.com rocketmail.com aol.com aim.com icloud.com me.com mac.com
		protonmail.com proton.me pm.me gmx.com gmx.de gmx.net gmx.at web.de mail.com email.com
		zoho.com zohomail.com yandex.com yandex.ru ya.ru mail.ru inbox.ru list.ru bk.ru qq.com
		163.com 126.com yeah.net sina.com sohu.com naver.com daum.net hanmail.net fastmail.com
		fastmail.fm hushmail.com tutanota.com tuta.io orange.fr wanadoo.fr free.fr laposte.net
		libero.it virgilio.it t-online.de freenet.de seznam.cz wp.pl o2.pl interia.pl rediffmail.com
		comcast.net verizon.net att.net sbcglobal.net btinternet.com sky.com virginmedia.com
		mailinator.com guerrillamail.com 10minutemail.com`) {
		publicEmailDomains[d] = true
	}
}

// NormalizeDomain returns the canonical form of an email domain — lower case, IDNA
// (punycode), no trailing dot — or a user error saying what is wrong with it.
func NormalizeDomain(field, raw string) (string, *models.Error) {
	if e := models.CheckText(field, raw); e != nil {
		return "", e
	}
	v := strings.TrimSuffix(strings.TrimSpace(raw), ".")
	bad := func(msg string) (string, *models.Error) {
		return "", models.FieldError(models.EINVALID, field, models.Clip(raw, 64), msg)
	}
	if _, err := netip.ParseAddr(strings.Trim(v, "[]")); err == nil {
		return bad("must be a domain name, not an IP address")
	}
	switch {
	case v == "":
		return bad("is required (an email domain such as example.com)")
	case len(v) > 253*4:
		return bad("is too long")
	case strings.ContainsAny(v, "@/:"):
		return bad("must be a bare domain such as example.com, without @, scheme or path")
	}
	name, err := idna.Lookup.ToASCII(v)
	if err != nil {
		return bad("is not a valid domain name")
	}
	name = strings.ToLower(name)
	if len(name) > 253 {
		return bad("must be at most 253 characters")
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return bad("must have at least two labels (example.com)")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return bad("is not a valid domain name")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return bad("is not a valid domain name")
			}
		}
	}
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" {
		return bad("is not a valid domain name")
	}
	// Public suffixes of both sections of the Public Suffix List are refused. ICANN's (co.uk,
	// com.au) are registries. The private section's (github.io, blogspot.com, herokuapp.com)
	// are names under which a provider hands subdomains to unrelated customers: the bare
	// suffix is no organisation's email domain, so routing it is a mistake or an attempt to
	// claim other people's sign-ins, and refusing it costs no real customer anything.
	if suffix, _ := publicsuffix.PublicSuffix(name); suffix == name {
		return bad("is a public suffix (like co.uk or github.io) under which anyone can register names; give your organisation's own domain, such as example.co.uk")
	}
	if publicEmailDomains[name] {
		return "", models.FieldError(models.EINVALID, field, name, "is a public email provider; only a domain your organisation controls can be routed to a connection")
	}
	return name, nil
}

// DomainInput adds a domain to a connection.
type DomainInput struct {
	Domain             string
	VerificationMethod string // dns-txt (default) or https-file
}

// AddDomain adds a pending domain with a fresh verification token.
func (s *Service) AddDomain(ctx context.Context, connectionID string, in DomainInput) (*models.Domain, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, err
	}
	var errs models.Errors
	name, e := NormalizeDomain("domain", in.Domain)
	if e != nil {
		errs = append(errs, e)
	}
	method := strings.TrimSpace(in.VerificationMethod)
	switch method {
	case "":
		method = models.VerifyDNSTXT
	case models.VerifyDNSTXT, models.VerifyHTTPSFile:
	default:
		errs = append(errs, models.FieldError(models.EINVALID, "verificationMethod", models.Clip(method, 64), "must be dns-txt or https-file"))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	now := s.now()
	d := &models.Domain{ID: store.NewID(), WorkspaceID: p.WorkspaceID, Name: name, Status: models.DomainPending,
		VerificationMethod: method, VerificationToken: models.DomainTokenPrefix + secret.Token("", 24),
		CreatedAt: now, UpdatedAt: now}
	m := domainMutation("domain.add", "add domain")
	m.taken = func(field string) error {
		if field == "name" {
			return models.FieldError(models.ETAKEN, "domain", name, "is already a domain of this connection")
		}
		return nil
	}
	err = s.mutateAs(ctx, p, m, func(ctx context.Context, p *Principal) (audited, error) {
		// Locked, as every write that decides from the connection's domains: two additions at
		// once would otherwise each count the domains before the other's insert, and pass the
		// limit together; a deletion of the connection meanwhile would leave a domain on it.
		c, err := s.lockConnection(ctx, p.WorkspaceID, "connectionId", connectionID)
		if err != nil {
			return audited{}, err
		}
		d.ConnectionID = c.ID
		all, _, err := s.store.CountDomains(ctx, p.WorkspaceID, c.ID)
		if err != nil {
			return audited{}, err
		}
		if all >= models.MaxDomainsPerConnection {
			return audited{}, models.FieldError(models.EINVALID, "domain", name, fmt.Sprintf("a connection can have at most %d domains", models.MaxDomainsPerConnection))
		}
		if err := s.checkDomainFree(ctx, d); err != nil {
			return audited{}, err
		}
		return audited{id: d.ID.String(), summary: domainSummary(c, d)}, s.store.Create(ctx, d)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// checkDomainFree refuses a domain verified by another connection (in any workspace).
func (s *Service) checkDomainFree(ctx context.Context, d *models.Domain) error {
	taken, err := s.store.VerifiedDomainElsewhere(ctx, d.ConnectionID, d.Name)
	if err != nil {
		return err
	}
	if taken {
		return domainTakenError(d.Name)
	}
	return nil
}

func domainTakenError(name string) *models.Error {
	return models.FieldError(models.ETAKEN, "domain", name, "is already verified by another connection; a domain can be verified by one owner only")
}

func domainSummary(c *models.Connection, d *models.Domain) map[string]any {
	return map[string]any{"connection_id": c.ID, "domain": d.Name, "method": d.VerificationMethod,
		"status": d.Status, "primary": d.IsPrimary}
}

func (s *Service) loadDomain(ctx context.Context, rawConn, rawDomain string) (*Principal, *models.Connection, *models.Domain, error) {
	p, err := s.authorize(ctx, accessManageWrite)
	if err != nil {
		return nil, nil, nil, err
	}
	c, d, err := s.loadDomainOf(ctx, p, rawConn, rawDomain)
	return p, c, d, err
}

// loadDomainOf is loadDomain for a caller authorized already.
func (s *Service) loadDomainOf(ctx context.Context, p *Principal, rawConn, rawDomain string) (*models.Connection, *models.Domain, error) {
	return s.domainOf(ctx, p, rawConn, rawDomain, s.loadConnection)
}

// domainOf is loadDomainOf with the connection read by load.
func (s *Service) domainOf(ctx context.Context, p *Principal, rawConn, rawDomain string,
	load func(ctx context.Context, ws uuid.UUID, field, rawID string) (*models.Connection, error)) (*models.Connection, *models.Domain, error) {
	c, err := load(ctx, p.WorkspaceID, "connectionId", rawConn)
	if err != nil {
		return nil, nil, err
	}
	notFound := models.FieldError(models.ENOTFOUND, "domainId", rawDomain, "no such domain at this connection")
	id, e := lookupID("domainId", rawDomain, "domain")
	if e != nil {
		return nil, nil, notFound
	}
	d, err := s.store.Domain(ctx, p.WorkspaceID, c.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, notFound
	}
	return c, d, err
}

// domainMutation is a change of a domain of a connection.
func domainMutation(action, op string) mutation {
	return mutation{access: accessManageWrite, action: action, target: "domain", op: op}
}

// VerifyDomain checks the domain's proof (the TXT record or the https file) and sets it
// verified or failed with the reason. A verified domain becomes the connection's primary
// domain when it has none. It reports whether the domain is verified: a check that failed
// while another one verified the domain (two admins, or a button pressed twice, and a DNS
// answer lost) leaves it verified, with no event.
func (s *Service) VerifyDomain(ctx context.Context, connectionID, domainID string) (*models.Domain, bool, error) {
	_, _, d, err := s.loadDomain(ctx, connectionID, domainID)
	if err != nil {
		return nil, false, internal("verify domain", err)
	}
	if d.Status == models.DomainVerified {
		return d, true, nil
	}
	if s.sso.remote == nil {
		return nil, false, internal("verify domain", errors.New("no Remote configured"))
	}
	var reason string
	if err := s.awayFromSlots(ctx, "verify domain", func() { reason = s.checkDomainProof(ctx, d) }); err != nil {
		return nil, false, err
	}
	var out *models.Domain
	verifiedMeanwhile := false
	m := domainMutation("domain.verify", "verify domain")
	m.taken = func(field string) error {
		if field == "verified_name" {
			return domainTakenError(d.Name)
		}
		return nil
	}
	// A concurrent verification of another domain of the connection, or a set-primary, can
	// make a domain primary between the count of verified domains and this write (the unique
	// index refuses the second primary): the write runs again, and finds it.
	m.again = func(err error) bool { return store.IsAlreadyExists(err, "primary") }
	err = s.mutate(ctx, m, func(ctx context.Context, p *Principal) (audited, error) {
		verifiedMeanwhile = false // a run of this closure after a retried one sets it afresh
		// Locked, as every write that decides which domain is primary: a removal of the
		// primary domain counted here as verified must not promote none meanwhile.
		c, d, err := s.domainOf(ctx, p, connectionID, domainID, s.lockConnection)
		if err != nil {
			return audited{}, err
		}
		if d.Status == models.DomainVerified {
			// Verified by a concurrent check while this one looked (the lock waited for its
			// commit): it stays as that check left it, whatever this one found, and this one
			// records nothing (a second event, a later verifiedAt).
			out, verifiedMeanwhile = d, true
			return audited{unchanged: true}, nil
		}
		now := s.now()
		d.LastCheckedAt = &now
		save := s.store.SaveDomain
		if reason == "" {
			if err := s.checkDomainFree(ctx, d); err != nil {
				return audited{}, err
			}
			_, verified, err := s.store.CountDomains(ctx, d.WorkspaceID, c.ID)
			if err != nil {
				return audited{}, err
			}
			d.Status, d.FailureReason, d.VerifiedAt = models.DomainVerified, "", &now
			if verified == 0 && !d.IsPrimary {
				if err := s.store.ClearPrimaryDomain(ctx, d.WorkspaceID, c.ID); err != nil {
					return audited{}, err
				}
				d.IsPrimary = true
			}
		} else {
			d.Status, d.FailureReason = models.DomainFailed, reason
			save = s.store.SaveDomainUnlessVerified // a concurrent check may have verified it since
		}
		err = save(ctx, d)
		if reason != "" && errors.Is(err, store.ErrNotFound) {
			// Verified meanwhile (or deleted, which the reload says): it stays as it is.
			if _, d, err = s.loadDomainOf(ctx, p, connectionID, domainID); err != nil {
				return audited{}, err
			}
			out, verifiedMeanwhile = d, true
			return audited{unchanged: true}, nil
		}
		if err != nil {
			return audited{}, err
		}
		out = d
		sum := domainSummary(c, d)
		sum["reason"] = reason
		return audited{id: d.ID.String(), summary: sum}, nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, reason == "" || verifiedMeanwhile, nil
}

// checkDomainProof looks for the domain's proof, within the network timeout; it returns ""
// when found, else why not.
func (s *Service) checkDomainProof(ctx context.Context, d *models.Domain) string {
	ctx, cancel, _ := s.remoteContext(ctx)
	defer cancel()
	if rec := d.DNSRecord(); rec != nil {
		txts, err := s.sso.remote.LookupTXT(ctx, rec.Name)
		if err != nil {
			return fmt.Sprintf("the DNS lookup of TXT %s failed: %v", rec.Name, err)
		}
		if len(txts) == 0 {
			return fmt.Sprintf("no TXT record found at %s", rec.Name)
		}
		for _, t := range txts {
			if strings.TrimSpace(t) == rec.Value {
				return ""
			}
		}
		return fmt.Sprintf("the TXT records at %s do not contain the expected value %s", rec.Name, rec.Value)
	}
	f := d.HTTPSFile()
	body, err := s.sso.remote.FetchFile(ctx, f.URL)
	if err != nil {
		return fmt.Sprintf("could not fetch %s: %v", f.URL, err)
	}
	if strings.TrimSpace(body) != f.Contents {
		return fmt.Sprintf("%s does not contain the expected value %s", f.URL, f.Contents)
	}
	return ""
}

// SetPrimaryDomain makes a verified domain the connection's primary domain, the default for
// users it provisions just in time.
func (s *Service) SetPrimaryDomain(ctx context.Context, connectionID, domainID string) (*models.Domain, error) {
	var out *models.Domain
	m := domainMutation("domain.set_primary", "set primary domain")
	// A concurrent write can make another domain primary after this one cleared the flag
	// (the unique index refuses the second primary): the write runs again, and clears it.
	m.again = func(err error) bool { return store.IsAlreadyExists(err, "primary") }
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (audited, error) {
		// Locked, as every write that decides which domain is primary: a removal that read
		// this domain not primary must not delete it after it became so (and promote none).
		c, d, err := s.domainOf(ctx, p, connectionID, domainID, s.lockConnection)
		if err != nil {
			return audited{}, err
		}
		if d.Status != models.DomainVerified {
			return audited{}, models.Errorf(models.EINVALIDSTATE, "the domain %s is not verified (status %s): verify it before making it primary", d.Name, d.Status)
		}
		out = d
		if d.IsPrimary {
			return audited{unchanged: true}, nil // primary already: no write, no event (edit)
		}
		if err := s.store.ClearPrimaryDomain(ctx, d.WorkspaceID, c.ID); err != nil {
			return audited{}, err
		}
		d.IsPrimary = true
		if err := s.store.SaveDomain(ctx, d); err != nil {
			return audited{}, err
		}
		return audited{id: d.ID.String(), summary: domainSummary(c, d)}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveDomain removes a domain from its connection. The last verified domain of an active
// connection cannot be removed: deactivate the connection first.
func (s *Service) RemoveDomain(ctx context.Context, connectionID, domainID string) (*models.Domain, error) {
	var out *models.Domain
	m := domainMutation("domain.remove", "remove domain")
	// A concurrent set-primary can make another domain primary between the promotion's check
	// and its write (the unique index refuses the second): the removal runs again, and finds
	// a primary domain.
	m.again = func(err error) bool { return store.IsAlreadyExists(err, "primary") }
	err := s.mutate(ctx, m, func(ctx context.Context, p *Principal) (audited, error) {
		// The connection is locked before its status and its domains are read: two removals
		// of its last two verified domains, or a removal and an activation, would otherwise
		// each decide from what the other had not committed yet (PostgreSQL), and leave it
		// active with no verified domain; a removal and a set-primary or a verification,
		// with no primary domain.
		c, d, err := s.domainOf(ctx, p, connectionID, domainID, s.lockConnection)
		if err != nil {
			return audited{}, err
		}
		if c.Status == models.StatusActive && d.Status == models.DomainVerified {
			_, verified, err := s.store.CountDomains(ctx, d.WorkspaceID, c.ID)
			if err != nil {
				return audited{}, err
			}
			if verified <= 1 {
				return audited{}, models.Errorf(models.EINVALIDSTATE, "%s is the last verified domain of an active connection: deactivate the connection first", d.Name)
			}
		}
		if err := s.store.DeleteDomain(ctx, d); err != nil {
			return audited{}, err
		}
		sum := domainSummary(c, d)
		if d.IsPrimary {
			// The primary domain names the email of people provisioned without one: the
			// remaining domain verified first takes its place.
			next, err := s.store.PromotePrimaryDomain(ctx, d.WorkspaceID, c.ID)
			if err != nil {
				return audited{}, err
			}
			if next != "" {
				sum["newPrimary"] = next
			}
		}
		out = d
		return audited{id: d.ID.String(), summary: sum}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
