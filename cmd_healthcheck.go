package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/app"
)

// newHealthcheckCmd is `gatehouse healthcheck`: the container image has no shell and no curl,
// so its HEALTHCHECK runs the binary itself against the local server's /readyz.
func newHealthcheckCmd(getenv func(string) string, stdout io.Writer) *cobra.Command {
	var target string
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the local server is ready (GET /readyz), for container health checks",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				target = readyzURL(getenv)
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodGet, target, nil)
			if err != nil {
				return usage(cmd, err)
			}
			resp, err := (&http.Client{Timeout: 3 * time.Second}).Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: %s answered %d: %s", target, resp.StatusCode, strings.TrimSpace(string(body)))
			}
			fmt.Fprintf(stdout, "ready\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&target, "url", "", "URL to probe (default: /readyz on GATEHOUSE_ADDR, on loopback)")
	return cmd
}

// readyzURL is the local server's /readyz, from GATEHOUSE_ADDR (":8080" means loopback).
func readyzURL(getenv func(string) string) string {
	addr := strings.TrimSpace(getenv("GATEHOUSE_ADDR"))
	if addr == "" {
		s, _ := app.LookupSetting("GATEHOUSE_ADDR")
		addr = s.Default
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/readyz"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}
