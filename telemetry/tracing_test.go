package telemetry

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
)

func TestNewTracingFollowsTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		on      bool
		wantErr string
	}{
		{"off by default", nil, false, ""},
		{"on with an endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, ""},
		{"on with a traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true, ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"SDK disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"no traces exporter", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"unsupported protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, false, "http/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracing(context.Background(), func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tr != nil) != tc.on {
				t.Fatalf("tracing on = %v, want %v", tr != nil, tc.on)
			}
			if tr != nil {
				tr.Shutdown(context.Background())
			}
		})
	}
}

// TestNewTracingRefusesUnreadableExporterSettings: an OTLP header or endpoint the exporter
// cannot read stops the start with an error naming the variable, not its value. The exporter
// itself skips such a value and logs it whole (an API key, a password in the URL) through
// OpenTelemetry's logger, which writes to standard error outside the JSON log.
func TestNewTracingRefusesUnreadableExporterSettings(t *testing.T) {
	const secret = "s3cr3t-api-key"
	var logged bytes.Buffer
	otel.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(&logged, nil)))
	t.Cleanup(func() { otel.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, nil))) })
	for _, tc := range []struct{ name, value string }{
		{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization: Bearer " + secret},            // a colon for the "="
		{"OTEL_EXPORTER_OTLP_HEADERS", "x-org=acme,Authorization: Bearer " + secret}, // the second entry
		{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization: Bearer " + secret + "=="},     // "=" in the key
		{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=" + secret + "%zz"},           // not URL-encoded
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://gatehouse:" + secret + "@otel-collector:4318/%zz"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://gatehouse:" + secret + "@otel-collector:4318/%zz"},
	} {
		for _, protocol := range []string{"http/protobuf", "grpc"} {
			t.Run(tc.name+" "+protocol, func(t *testing.T) {
				logged.Reset()
				// The exporter reads the process environment itself.
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
				t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
				t.Setenv(tc.name, tc.value)
				tr, err := NewTracing(context.Background(), os.Getenv)
				if tr != nil {
					tr.Shutdown(context.Background())
				}
				if err == nil || !strings.Contains(err.Error(), tc.name) {
					t.Errorf("err = %v, want one naming %s", err, tc.name)
				}
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("the error carries the secret: %v", err)
				}
				if strings.Contains(logged.String(), secret) {
					t.Errorf("the secret was logged: %s", logged.String())
				}
			})
		}
	}
	// Well-formed headers still start tracing: several, one with a URL-encoded value.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key="+secret+",Authorization=Basic%20dXNlcjpwYXNz")
	tr, err := NewTracing(context.Background(), os.Getenv)
	if err != nil || tr == nil {
		t.Fatalf("well-formed headers: tracing %v, err %v", tr != nil, err)
	}
	tr.Shutdown(context.Background())
	if logged.Len() > 0 {
		t.Errorf("the exporter logged well-formed headers: %s", logged.String())
	}
}
