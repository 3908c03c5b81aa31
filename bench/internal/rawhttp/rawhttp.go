// Package rawhttp is the benchmarks' HTTP/1.1 client: pre-built request bytes over one
// keep-alive connection, parsing only the status line, Content-Length (or chunked transfer
// encoding) and the body.
package rawhttp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
)

// Conn is a minimal HTTP/1.1 keep-alive client for fixed requests. The load generator shares
// the 2 cores with the server; net/http's client costs more CPU per request than the cheapest
// endpoints themselves, so the benchmarks write pre-built request bytes and parse only the
// status line, Content-Length or chunked encoding. It is not safe for concurrent use.
type Conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

// Dial connects to the host of base (http://host:port).
func Dial(base string) (*Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	rc := &Conn{addr: u.Host}
	return rc, rc.redial()
}

func (rc *Conn) redial() error {
	if rc.c != nil {
		rc.c.Close()
	}
	c, err := net.Dial("tcp", rc.addr)
	if err != nil {
		return err
	}
	rc.c, rc.r = c, bufio.NewReaderSize(c, 16<<10)
	return nil
}

// Do sends req (a complete HTTP/1.1 request) and returns the status code and body.
func (rc *Conn) Do(req []byte) (int, []byte, error) {
	if _, err := rc.c.Write(req); err != nil {
		rc.redial()
		return 0, nil, err
	}
	line, err := rc.r.ReadSlice('\n')
	if err != nil || len(line) < 12 {
		rc.redial()
		return 0, nil, fmt.Errorf("bad status line: %v", err)
	}
	status, _ := strconv.Atoi(string(line[9:12]))
	length, chunked := -1, false
	for {
		h, err := rc.r.ReadSlice('\n')
		if err != nil {
			rc.redial()
			return 0, nil, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		} else if ok && bytes.EqualFold(k, []byte("Transfer-Encoding")) {
			chunked = bytes.EqualFold(bytes.TrimSpace(v), []byte("chunked"))
		}
	}
	if chunked { // net/http streams bodies longer than its buffer
		body, err := rc.readChunked()
		if err != nil {
			rc.redial()
			return 0, nil, err
		}
		return status, body, nil
	}
	if length < 0 {
		rc.redial()
		return status, nil, fmt.Errorf("response without Content-Length")
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		rc.redial()
		return 0, nil, err
	}
	return status, body, nil
}

// readChunked reads a chunked body (no trailers).
func (rc *Conn) readChunked() ([]byte, error) {
	var body []byte
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			if _, err := rc.r.ReadSlice('\n'); err != nil { // the empty line after the last chunk
				return nil, err
			}
			return body, nil
		}
		n := len(body)
		body = append(body, make([]byte, size+2)...)
		if _, err := io.ReadFull(rc.r, body[n:]); err != nil {
			return nil, err
		}
		body = body[:len(body)-2] // CRLF after the chunk
	}
}

// Request builds a complete HTTP/1.1 request with a bearer token and, when body is not
// empty, a JSON body of contentType.
func Request(method, host, path, token, contentType, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n", method, path, host, token)
	if body != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\nContent-Length: %d\r\n", contentType, len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.Bytes()
}

// Close closes the connection.
func (rc *Conn) Close() error { return rc.c.Close() }
