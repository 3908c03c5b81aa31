package main

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"time"

	"gatehouse/bench/internal/rawhttp"
)

// runTokens: workers fetch client-credentials tokens (HTTP Basic) as fast as they can, each on
// its own keep-alive connection.
func runTokens(s *server, workers int, d time.Duration) {
	u, _ := url.Parse(s.url)
	body := "grant_type=client_credentials"
	req := []byte(fmt.Sprintf("POST /oauth/token HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"+
		"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		u.Host, base64.StdEncoding.EncodeToString([]byte(benchClientID+":"+benchClientSecret)), len(body), body))
	conns := make(chan *rawhttp.Conn, workers)
	for i := 0; i < workers; i++ {
		c, err := rawhttp.Dial(s.url)
		if err != nil {
			fail(err)
		}
		conns <- c
	}
	job := func(int) (int, bool) {
		c := <-conns
		defer func() { conns <- c }()
		status, _, err := c.Do(req)
		return 1, err == nil && status == 200
	}
	run("tokens (warm-up)", workers, -1, time.Second, job)
	run("tokens", workers, -1, d, job).print()
}
