// Package telemetry is Gatehouse's observability: the Prometheus metrics that the transports
// and the service layer count into, and OpenTelemetry tracing configured from the standard
// OTEL_* environment. The per-request record of the access log is its subpackage reqinfo. It
// holds no business rules and imports no other Gatehouse package.
package telemetry
