package telemetry

import (
	"database/sql"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Label values that no client-chosen name can take (GraphQL names have no parentheses).
const (
	// OperationAnonymous is an operation sent without a name.
	OperationAnonymous = "(anonymous)"
	// OperationInvalid is a request whose document did not parse or validate, or named no
	// operation of it.
	OperationInvalid = "(invalid)"
	// OperationOther is every name past the cap on distinct names, or too long to be a label.
	OperationOther = "(other)"
)

// Bounds on the GraphQL operation label: clients choose the names, and every distinct value
// is a time series kept for the life of the process.
const (
	MaxOperationNames     = 100
	MaxOperationNameBytes = 64
)

// Outcomes of SCIM and GraphQL operations.
const (
	OutcomeSuccess     = "success"
	OutcomeClientError = "client_error" // 4xx other than 401 and 403
	OutcomeDenied      = "denied"       // 401 or 403
	OutcomeServerError = "server_error" // 5xx
	OutcomeError       = "error"        // a GraphQL response with top-level errors
)

// Grant types counted by name: the grants the token endpoint has. Gatehouse issues no refresh
// tokens, so a refresh_token request is refused (unsupported_grant_type) and issues nothing:
// a series for it could never move. Only a registered grant issues a token, so the "other"
// series is not made ahead (it would stay at zero); it appears if a grant not named here
// ever issues one.
var grantTypes = []string{"client_credentials", "authorization_code"}

// Sign-in outcomes counted by name (provision.SignInOutcome values and "error" for a sign-in
// that failed before deciding); any other counts as "other".
var signInOutcomes = []string{"existing_identity", "linked_by_email", "provisioned", "refused", "error"}

// Periodic jobs counted by name (app.Maintain) under the label task: Prometheus gives every
// scraped series a job label of its own (the scrape job), which a job label of the metric's
// would collide with. Any other name counts as "other".
var jobNames = []string{"sign_in_state_prune", "saml_certificate_expiry", "saml_metadata_refresh",
	"scim_counter_reconcile", "scim_activity_prune", "sign_in_event_prune"}

// Metrics are Gatehouse's own Prometheus metrics. Label handles are resolved once, when the
// metrics are built or when a route is registered, so that counting costs an atomic add.
// Every method is safe on a nil *Metrics and then counts nothing, so that tests and tools can
// build the handlers without metrics.
type Metrics struct {
	tokens      knownValues
	authFailure *prometheus.CounterVec
	scim        *prometheus.CounterVec
	graphql     *prometheus.CounterVec
	signIns     knownValues
	samlExpiry  *prometheus.GaugeVec
	samlSHA1    prometheus.Gauge
	samlRefresh *prometheus.GaugeVec
	jobFailures knownValues
	jobSuccess  *prometheus.GaugeVec

	// gqlOps maps an operation name to its *OutcomeCounters; gqlNames counts the names
	// (concurrent first uses can pass the cap by a few, never without bound).
	gqlOps   sync.Map
	gqlNames atomic.Int64
}

// NewMetrics registers Gatehouse's metrics on reg. dbs are the database pools by name, whose
// sql.DBStats are exported as gatehouse_go_sql_* with that name as db_name (client_golang's
// DBStats collector, prefixed like every Gatehouse metric).
func NewMetrics(reg prometheus.Registerer, dbs map[string]*sql.DB) *Metrics {
	m := &Metrics{
		authFailure: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_oauth_client_authentication_failures_total",
			Help: "Refused client authentications (invalid_client) by OAuth endpoint."}, []string{"endpoint"}),
		scim: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_scim_operations_total",
			Help: "SCIM operations by resource (user, group), operation (list, get, create, replace, patch, delete, unsupported) and outcome."},
			[]string{"resource", "operation", "outcome"}),
		graphql: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_graphql_operations_total",
			Help: "GraphQL operations by operation name and outcome (error: the response has top-level errors)."},
			[]string{"operation", "outcome"}),
	}
	tokens := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_oauth_tokens_issued_total",
		Help: "Access tokens issued by the token endpoint, by grant type."}, []string{"grant_type"})
	m.tokens = newKnownValues(tokens, grantTypes, false)
	signIns := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_sign_ins_total",
		Help: "Browser sign-ins decided by the sign-in engine, by outcome."}, []string{"outcome"})
	m.signIns = newKnownValues(signIns, signInOutcomes, true)
	for _, e := range []string{"token", "introspection", "revocation"} {
		m.authFailure.WithLabelValues(e) // present at zero, so that rate() works from the start
	}
	m.samlExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_saml_connections_by_certificate_expiry",
		Help: "Active and testing SAML connections by when the last of their IdP certificates expires: expired (none valid now), within_7d, within_30d (7 to 30 days), later; refreshed hourly."},
		[]string{"expires"})
	m.SAMLCertificateExpiry(0, 0, 0, 0) // present from the start; the server counts at once
	m.samlSHA1 = prometheus.NewGauge(prometheus.GaugeOpts{Name: "gatehouse_saml_connections_accepting_sha1",
		Help: "Active and testing SAML connections that accept responses signed with SHA-1 (samlConfig.acceptSha1Signatures); refreshed hourly."})
	m.samlRefresh = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_saml_metadata_refresh_connections",
		Help: "SAML connections whose IdP certificates follow their metadata URL, by the result of the last hourly read: changed (the certificates were updated), unchanged, failed (the metadata could not be followed; the certificates stay)."},
		[]string{"result"})
	m.SAMLMetadataRefresh(0, 0, 0)
	jobFailures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_periodic_task_failures_total",
		Help: "Runs of a periodic job that failed (the log line says why; the job runs again at its next tick), by task."}, []string{"task"})
	m.jobFailures = newKnownValues(jobFailures, jobNames, true) // present at zero
	m.jobSuccess = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_periodic_task_last_success_timestamp_seconds",
		Help: "When a periodic job last finished without error (Unix time), by task; absent until it has."}, []string{"task"})
	reg.MustRegister(tokens, m.authFailure, m.scim, m.graphql, signIns, m.samlExpiry, m.samlSHA1, m.samlRefresh, jobFailures, m.jobSuccess)
	for name, db := range dbs {
		prometheus.WrapRegistererWithPrefix("gatehouse_", reg).MustRegister(collectors.NewDBStatsCollector(db, name))
	}
	return m
}

// knownValues are the counters of a one-label vector for a fixed set of values, resolved
// once and present at zero; any other value counts as "other", so that a caller's input
// cannot add series. The "other" series is present from the start too when other is true
// (a value outside the set can happen), else made at its first count.
type knownValues struct {
	vec    *prometheus.CounterVec
	counts map[string]prometheus.Counter
}

func newKnownValues(vec *prometheus.CounterVec, values []string, other bool) knownValues {
	k := knownValues{vec: vec, counts: map[string]prometheus.Counter{}}
	if other {
		k.counts["other"] = vec.WithLabelValues("other")
	}
	for _, v := range values {
		k.counts[v] = vec.WithLabelValues(v)
	}
	return k
}

func (k knownValues) inc(value string) {
	c, ok := k.counts[value]
	if !ok {
		c = k.vec.WithLabelValues("other")
	}
	c.Inc()
}

// TokenIssued counts an access token issued with grant.
func (m *Metrics) TokenIssued(grant string) {
	if m != nil {
		m.tokens.inc(grant)
	}
}

// ClientAuthFailure counts a refused client authentication at an OAuth endpoint ("token",
// "introspection", "revocation").
// endpoint must be a constant of the caller, never a value from the request.
func (m *Metrics) ClientAuthFailure(endpoint string) {
	if m == nil {
		return
	}
	m.authFailure.WithLabelValues(endpoint).Inc()
}

// SAMLCertificateExpiry sets the number of SAML connections whose IdP certificates have
// expired, expire within 7 days, within 30 days, and later (provision.SAMLCertificateExpiry).
func (m *Metrics) SAMLCertificateExpiry(expired, within7Days, within30Days, later int) {
	if m == nil {
		return
	}
	for label, n := range map[string]int{"expired": expired, "within_7d": within7Days, "within_30d": within30Days, "later": later} {
		m.samlExpiry.WithLabelValues(label).Set(float64(n))
	}
}

// SAMLAcceptingSHA1 sets the number of active and testing SAML connections that accept SHA-1
// signatures (provision.CertificateExpiry.AcceptingSHA1).
func (m *Metrics) SAMLAcceptingSHA1(n int) {
	if m == nil {
		return
	}
	m.samlSHA1.Set(float64(n))
}

// SAMLMetadataRefresh sets the number of SAML connections whose last metadata read changed
// their certificates, left them unchanged, or failed (provision.RefreshSAMLMetadata).
func (m *Metrics) SAMLMetadataRefresh(changed, unchanged, failed int) {
	if m == nil {
		return
	}
	for label, n := range map[string]int{"changed": changed, "unchanged": unchanged, "failed": failed} {
		m.samlRefresh.WithLabelValues(label).Set(float64(n))
	}
}

// JobRan records a run of the periodic job named job (one of jobNames) that ended with err:
// a failure is counted; a success sets the job's last success time to now.
func (m *Metrics) JobRan(job string, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.jobFailures.inc(job)
		return
	}
	if !slices.Contains(jobNames, job) {
		job = "other"
	}
	m.jobSuccess.WithLabelValues(job).SetToCurrentTime()
}

// SignIn counts a sign-in decision by outcome.
func (m *Metrics) SignIn(outcome string) {
	if m != nil {
		m.signIns.inc(outcome)
	}
}

// OutcomeCounters counts the outcomes of one kind of operation. A nil *OutcomeCounters
// counts nothing.
type OutcomeCounters struct {
	success, clientError, denied, serverError, failed prometheus.Counter
}

// ObserveStatus counts an operation answered with an HTTP status.
func (o *OutcomeCounters) ObserveStatus(status int) {
	if o == nil {
		return
	}
	switch {
	case status < 400:
		o.success.Inc()
	case status == 401 || status == 403:
		o.denied.Inc()
	case status < 500:
		o.clientError.Inc()
	default:
		o.serverError.Inc()
	}
}

// SCIMOperation returns the counters of one SCIM resource and operation; a handler resolves
// them once, when it registers its route.
func (m *Metrics) SCIMOperation(resource, operation string) *OutcomeCounters {
	if m == nil {
		return nil
	}
	l := func(outcome string) prometheus.Counter { return m.scim.WithLabelValues(resource, operation, outcome) }
	return &OutcomeCounters{success: l(OutcomeSuccess), clientError: l(OutcomeClientError),
		denied: l(OutcomeDenied), serverError: l(OutcomeServerError)}
}

// GraphQLOperation counts a GraphQL operation by name; failed means the response carried
// top-level errors. name is OperationAnonymous, OperationInvalid or a parsed operation's
// name; past MaxOperationNames distinct names, or longer than MaxOperationNameBytes, it is
// counted as OperationOther. It returns the name it counted under.
func (m *Metrics) GraphQLOperation(name string, failed bool) string {
	if m == nil {
		return name
	}
	if len(name) > MaxOperationNameBytes {
		name = OperationOther
	}
	var o *OutcomeCounters
	if v, ok := m.gqlOps.Load(name); ok {
		o = v.(*OutcomeCounters)
	} else {
		if m.gqlNames.Load() >= MaxOperationNames {
			name = OperationOther
		}
		o = m.graphqlCounters(name)
	}
	if failed {
		o.failed.Inc()
	} else {
		o.success.Inc()
	}
	return name
}

func (m *Metrics) graphqlCounters(name string) *OutcomeCounters {
	if v, ok := m.gqlOps.Load(name); ok {
		return v.(*OutcomeCounters)
	}
	o := &OutcomeCounters{success: m.graphql.WithLabelValues(name, OutcomeSuccess),
		failed: m.graphql.WithLabelValues(name, OutcomeError)}
	if v, loaded := m.gqlOps.LoadOrStore(name, o); loaded {
		return v.(*OutcomeCounters)
	}
	if name != OperationOther {
		m.gqlNames.Add(1)
	}
	return o
}
