package probe

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/wire"
)

// TestRequest checks the requests the probe builds by parsing them as a
// server does.
func TestRequest(t *testing.T) {
	tests := []struct {
		method, body string
	}{{"GET", ""}, {"POST", wire.PostBody}}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			b := wire.HTTP1Request(tt.method, "/p?q=1", "example.com:8080")
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("%q: %v", b, err)
			}
			body, _ := io.ReadAll(req.Body)
			if req.Method != tt.method || req.RequestURI != "/p?q=1" || req.Host != "example.com:8080" || string(body) != tt.body {
				t.Errorf("%q parsed as %s %s host %s body %q", b, req.Method, req.RequestURI, req.Host, body)
			}
		})
	}
}

func TestLoadValidate(t *testing.T) {
	tests := []struct {
		name string
		load Load
		want string // in the error; empty for none
	}{
		{"defaults", Load{}, ""},
		{"methods any case", Load{BusyMethod: "post", SlowMethod: "Get"}, ""},
		{"PUT", Load{BusyMethod: "PUT"}, `BusyMethod "PUT": want GET or POST`},
		{"negative streams", Load{WebSockets: -1, SSE: -2}, "negative WebSockets -1\nnegative SSE -2"},
		{"relative path", Load{SSEPath: "events"}, `SSEPath: path "events" does not begin with /`},
		{"space in path", Load{BusyPath: "/a b"}, "holds a space"},
		{"CRLF in path", Load{SlowPath: "/a\r\nX: y"}, "control character"},
		{"negative trickle", Load{SilentSend: "G", SilentEvery: -1}, "negative SilentEvery"},
		{"trickle of nothing", Load{SilentEvery: 1}, "SilentEvery without SilentSend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(withDefaults(tt.load))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
	if l := withDefaults(Load{BusyMethod: "post"}); l.BusyMethod != "POST" || l.SlowMethod != "GET" {
		t.Errorf("methods %q %q, want POST GET", l.BusyMethod, l.SlowMethod)
	}
}

func TestConfigResolve(t *testing.T) {
	server := Command{Args: []string{"./server"}}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; empty for none
	}{
		{"server", Config{Server: server}, ""},
		{"nothing", Config{}, "no server command"},
		{"PID without target", Config{Server: server, PID: 1}, "PID is for target mode"},
		{"Duration without target", Config{Server: server, Duration: 1}, "Duration is for target mode"},
		{"target and server", Config{Server: server, Target: "127.0.0.1:80", Duration: 1}, "Target and Server.Args"},
		{"target without duration", Config{Target: "127.0.0.1:80"}, "needs a positive Duration"},
		{"target, PID and duration", Config{Target: "127.0.0.1:80", PID: 1, Duration: 1}, "Duration is for target mode without PID"},
		{"negative PID", Config{Target: "127.0.0.1:80", PID: -3}, "negative PID"},
		{"ftp", Config{Target: "ftp://example.com", Duration: 1}, "only http:// and https://"},
		{"https without HTTP/2", Config{Target: "https://example.com", Duration: 1}, "TLS without HTTP2"},
		{"https with HTTP/2", Config{Target: "https://example.com", Duration: 1, Load: Load{HTTP2: true}}, ""},
		{"path", Config{Target: "http://example.com/api", Duration: 1}, "give no path"},
		{"no port", Config{Target: "example.com", Duration: 1}, "want http://host[:port] or host:port"},
		{"target ready path", Config{Target: "http://127.0.0.1:80/", Duration: 1, Server: Command{ReadyPath: "/ready"}}, ""},
		{"bad load", Config{Server: server, Load: Load{SlowMethod: "DELETE"}}, "invalid load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.resolve()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	tests := []struct{ target, addr, host string }{
		{"127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1:8080"},
		{"localhost:8080", "localhost:8080", "localhost:8080"},
		{"http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1:8080"},
		{"http://example.com/", "example.com:80", "example.com"},
		{"http://[::1]:81", "[::1]:81", "[::1]:81"},
	}
	for _, tt := range tests {
		addr, host, err := parseTarget(tt.target)
		if err != nil || addr != tt.addr || host != tt.host {
			t.Errorf("parseTarget(%q) = %q, %q, %v; want %q, %q", tt.target, addr, host, err, tt.addr, tt.host)
		}
	}
}

// Silent sockets send the start of a request and stop, or trickle it a
// byte at a time.
func TestSilentSend(t *testing.T) {
	for _, tt := range []struct {
		name  string
		every time.Duration
		want  string
	}{{"stalled", 0, "GET / HTTP/1.1\r\n"}, {"trickling", time.Millisecond, "GET / HTTP/1.1\r\nxx"}} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			load := withDefaults(Load{Silent: 1, SilentSend: "GET / HTTP/1.1\r\n", SilentEvery: tt.every})
			d := newDriver(ln.Addr().String(), "test", load, newRecorder(0), nil)
			ctx, cancel := context.WithCancel(context.Background())
			d.openSilent(ctx)
			defer func() { cancel(); d.close() }()
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			got := make([]byte, len(tt.want))
			sc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(sc, got); err != nil || string(got) != tt.want {
				t.Errorf("the server read %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
