// Package testchild is the probe's tests' server: it makes a test binary
// double as a small HTTP server that the tests start as a child process
// (see [Main]), or serve in the test process ([Serve]). It is for tests
// only.
package testchild

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/drain-go/drain/internal/probe/wire"
)

// ModeEnv makes the test binary run as a small server in the mode it
// names (see [Main]) instead of the tests, so that the tests can start real
// child processes; with TLSEnv set too, it serves TLS (HTTP/2 by ALPN).
const (
	ModeEnv = "PROBE_TEST_CHILD"
	TLSEnv  = "PROBE_TEST_CHILD_TLS"
)

// tlsConfig is the child's TLS configuration, when it serves TLS.
var tlsConfig *tls.Config

// selfSigned returns a certificate for 127.0.0.1, signed by itself.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "probe test child"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Main is a TestMain: it runs the child server if [ModeEnv] is set, and
// otherwise the tests, checking that they leak no goroutine.
func Main(m *testing.M) {
	if mode := os.Getenv(ModeEnv); mode != "" {
		os.Exit(runChild(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// Args returns the command line that runs the test binary as a child
// server, with args.
func Args(args ...string) []string { return append([]string{os.Args[0]}, args...) }

// Env returns the environment of a child server in the given mode (see
// runChild).
func Env(mode string) []string {
	// Built with -race, a process sleeps 1s as it exits, unless told not
	// to: that would be taken for the server's lag.
	return []string{ModeEnv + "=" + mode, "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
}

// ListenTimeout is how long a child may take to listen: the race
// detector starts slowly.
const ListenTimeout = 30 * time.Second

// runChild is the child's main. Modes:
//
//	exit3      prints a line and exits 3 without listening
//	deaf       never listens; sleeps until killed
//	graceful   serves (see below); on SIGTERM, ends its streams cleanly
//	           (WebSockets with a 1001 close frame) and calls net/http's
//	           Shutdown, exit 0
//	abrupt     serves; on SIGTERM, exits 0 at once
//	slow-ready as graceful, but /ready answers 503 for its first 300ms
//	stubborn   serves, ignoring SIGTERM
//	exit-soon  serves for 200ms, then exits 4
//
// It serves HTTP/1 and h2c: /fast, /slow?ms=N, /post (200 to a POST of wire.PostBody, else
// 400), /ready, /ws (a WebSocket that stays open) and /events (an SSE
// stream that stays open).
//
// The port is PORT, or the -port=N argument if given. The child prints its
// arguments and PORT on stdout.
func runChild(mode string, args []string) int {
	fmt.Printf("child: args=%q PORT=%s\n", args, os.Getenv("PORT"))
	switch mode {
	case "exit3":
		fmt.Fprintln(os.Stderr, "child: failing on purpose")
		return 3
	case "deaf":
		time.Sleep(time.Minute)
		return 0
	}
	// The handler is in place before the port opens: a probe may signal the
	// child as soon as it accepts a connection.
	if mode == "stubborn" {
		signal.Ignore(syscall.SIGTERM)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if os.Getenv(TLSEnv) != "" {
		// TLS only, HTTP/2 by ALPN, with a certificate of its own.
		cert, err := selfSigned()
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	}
	port := os.Getenv("PORT")
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, "-port="); ok {
			port = p
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	readyAt := time.Now()
	if mode == "slow-ready" {
		readyAt = readyAt.Add(300 * time.Millisecond)
	}
	srv := &http.Server{Handler: testHandler(readyAt), Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge too
	srv.Protocols.SetHTTP2(true)            // and HTTP/2 by ALPN, with TLS
	srv.RegisterOnShutdown(beginShutdown)
	switch mode {
	case "stubborn":
		srv.Serve(ln)
		return 0
	case "exit-soon":
		go srv.Serve(ln)
		time.Sleep(200 * time.Millisecond)
		return 4
	}
	go srv.Serve(ln)
	<-ctx.Done()
	if mode == "abrupt" {
		return 0
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return 1
	}
	wsHandlers.Wait()
	return 0
}

// Serve serves the child's handler in the test process, on loopback,
// until the test ends, and returns its address.
func Serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: testHandler(time.Now())}
	done := make(chan struct{})
	go func() { // owned: waited for in the cleanup
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
		wsHandlers.Wait() // hijacked: Close does not wait for them
	})
	return ln.Addr().String()
}

// FreePort returns a loopback TCP port that was free a moment ago: one
// where nothing listens.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ProcState returns the state of process pid as /proc/[pid]/stat gives
// it ("R", "S", "Z"...), or "" if there is no such process.
func ProcState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2 : i+3]
	}
	return "?"
}

// shutdown is closed when the child's server begins to shut down; wsHandlers
// counts its WebSocket handlers, which Shutdown does not wait for.
var (
	shutdown     = make(chan struct{})
	shutdownOnce sync.Once
	wsHandlers   sync.WaitGroup
)

// testHandler is the handler of the child server, ready from readyAt on.
func testHandler(readyAt time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fast\n") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		io.WriteString(w, "slow\n")
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || string(b) != wire.PostBody {
			http.Error(w, "want a POST of the probe's body", http.StatusBadRequest)
			return
		}
		io.WriteString(w, "posted\n")
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if time.Now().Before(readyAt) {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		wsHandlers.Add(1)
		defer wsHandlers.Done()
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		gone := c.CloseRead(context.Background())
		c.Write(r.Context(), websocket.MessageText, []byte("hello"))
		select {
		case <-shutdown:
			c.Close(websocket.StatusGoingAway, "shutting down")
		case <-gone.Done():
		}
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: hello\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-shutdown:
		case <-r.Context().Done():
		}
	})
	return mux
}

// beginShutdown closes shutdown; the child's server calls it as it shuts
// down.
func beginShutdown() { shutdownOnce.Do(func() { close(shutdown) }) }
