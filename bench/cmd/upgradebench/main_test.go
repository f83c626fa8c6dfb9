//go:build linux

package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCheck(t *testing.T) {
	ok := config{addr: "127.0.0.1:8080", pidFile: "/tmp/p", upgrades: 3, interval: 2 * time.Second,
		busy: 16, conns: 4, slow: 3, slowMS: 1000, slowLead: 200 * time.Millisecond, tail: time.Second,
		timeout: time.Second, startTimeout: time.Second, readyTimeout: time.Second, exitTimeout: time.Second,
		args: []string{"server"}}
	for _, tc := range []struct {
		name string
		edit func(*config)
		want string // in the error; "" for none
	}{
		{"defaults", func(*config) {}, ""},
		{"localhost", func(c *config) { c.addr = "localhost:80" }, ""},
		{"ipv6 loopback", func(c *config) { c.addr = "[::1]:80" }, ""},
		{"not loopback", func(c *config) { c.addr = "10.0.0.1:80" }, "not on loopback"},
		{"no command", func(c *config) { c.args = nil }, "no server command"},
		{"no pidfile", func(c *config) { c.pidFile = "" }, "required"},
		{"too many upgrades", func(c *config) { c.upgrades = 101 }, "-upgrades"},
		{"lead longer than interval", func(c *config) { c.slowLead = c.interval }, "-slow-lead"},
		{"too many clients", func(c *config) { c.busy = 1000 }, "1000 at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.check()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("check() = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestBusyClient runs a busy client against a server that answers the
// second request on each connection with "Connection: close", except on
// the third connection, which it closes with that request unanswered: the
// client connects again after each, and counts the unanswered request
// lost, saying where it was on its connection.
func TestBusyClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for n := 1; ; n++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for i := 1; ; i++ {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					switch {
					case i == 2 && n == 3:
						return // unanswered
					case i == 2:
						nc.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
						return
					}
					nc.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
				}
			})
		}
	})

	l := &loader{addr: ln.Addr().String(), timeout: 5 * time.Second, stop: make(chan struct{})}
	tl := newTally("busy", 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.busy(context.Background(), "busy 1", tl)
	}()
	time.Sleep(100 * time.Millisecond)
	close(l.stop)
	<-done
	got := tl.counts[0]
	if got[lost] != 1 || got[answered] < 4 || got[refused] != 0 || got[failed] != 0 {
		t.Fatalf("counts %v (answered, refused, lost, failed): want 1 lost, 4 answered or more, nothing else", got)
	}
	if e := tl.errs[0].err.Error(); !strings.Contains(e, "request 2 on its connection") {
		t.Errorf("the lost request's error does not say where it was: %s", e)
	}
}
