package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
)

// rawConn is a minimal HTTP/1.1 keep-alive client for fixed requests. The load generator shares
// the 2 cores with the server; net/http's client costs more CPU per request than the token
// endpoint itself, so the token workload writes pre-built request bytes and parses only the
// status line and Content-Length.
type rawConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func dialRaw(base string) (*rawConn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{addr: u.Host}
	return rc, rc.redial()
}

func (rc *rawConn) redial() error {
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

// do sends req (a complete HTTP/1.1 request) and returns the status code and body.
func (rc *rawConn) do(req []byte) (int, []byte, error) {
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
	length := -1
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
		}
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
