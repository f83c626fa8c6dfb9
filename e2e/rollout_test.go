package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/seed"
	"go.uber.org/goleak"
)

// seedArgs asks the test binary to run the seed demo server instead: the
// instances behind the balancer are real processes that get real signals.
const seedArgs = "E2E_SEED_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(seedArgs); args != "" {
		os.Exit(seed.Run(strings.Fields(args), os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// The balancer's health check: every checkInterval, and checkFall
// failures in a row take an instance out. Detection takes up to
// checkInterval × checkFall, plus the time of a check.
const (
	checkInterval = 500 * time.Millisecond
	checkFall     = 2
	checkRise     = 2
	// shutdownDelay is longer than the detection time, with margin.
	shutdownDelay = 2 * time.Second
	clients       = 16
	// afterRestart is how long the load runs on both instances after
	// each restart, before the next one.
	afterRestart = time.Second
)

// A rolling restart of two instances of the demo behind HAProxy in TCP
// mode, with no retries, as an L4 service proxy: each instance in turn
// gets SIGTERM, exits, starts again on its port and is waited for until
// the balancer sends it traffic again, while keep-alive clients load the
// balancer. With a shutdown delay longer than the balancer's detection
// time, no request fails, in retry-after mode too. Without the delay, the
// instance stops listening while the balancer still sends it
// connections: the run logs the failures, which BENCHMARKS.md reports.
//
// For comparisons (bench/rollout.sh), E2E_SERVER names another server
// binary, which listens on $PORT, and E2E_CHECK_PATH the path of its
// health check: the test then runs it alone, and asserts no failure
// count.
func TestRollingRestartBehindHAProxy(t *testing.T) {
	haproxy := needHAProxy(t)
	type testCase struct {
		name     string
		server   server
		lossless bool // assert that no request fails
	}
	cases := []testCase{
		{"delay", seedServer("-shutdown-delay", shutdownDelay.String()), true},
		{"retry-after", seedServer("-shutdown-delay", shutdownDelay.String(), "-retry-after"), true},
		{"no-delay", seedServer(), false},
		// Retry-after without a delay: what the balancer still sends
		// after the signal is answered 503 rather than cut.
		{"retry-after-no-delay", seedServer("-retry-after"), false},
	}
	if bin := os.Getenv("E2E_SERVER"); bin != "" {
		check := cmp.Or(os.Getenv("E2E_CHECK_PATH"), "/readyz")
		cases = []testCase{{filepath.Base(bin), server{bin: bin, check: check}, false}}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := rollingRestart(t, haproxy, tc.server)
			ok, failed := int(l.ok.Load()), l.failed()
			t.Logf("rollout %s: %d requests, %d failed %v", tc.name, ok+failed, failed, l.failures)
			if tc.lossless && failed > 0 {
				t.Errorf("%d of %d requests failed during the rolling restart: %v", failed, ok+failed, l.failures)
			}
			if ok < 1000 {
				t.Errorf("only %d requests succeeded: the load did not run", ok)
			}
		})
	}
}

// needHAProxy returns the path of haproxy, or skips the test without it
// (fails it in CI, where .ci/run installs it).
func needHAProxy(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("haproxy is not installed; .ci/run installs it (apt-get install haproxy)")
		}
		t.Skip("haproxy is not installed (apt-get install haproxy); skipping the load-balancer test")
	}
	return path
}

// A server is what runs behind the balancer: the seed demo with args, or
// another binary.
type server struct {
	bin   string // empty: the seed demo
	args  []string
	check string // the path of its health check
}

func seedServer(args ...string) server { return server{args: args, check: "/readyz"} }

// rollingRestart restarts the instances of srv one by one under load, and
// returns the load once its clients are done.
func rollingRestart(t *testing.T, haproxy string, srv server) *load {
	dir := t.TempDir()
	instances := []*instance{
		{name: "a", port: freePort(t), server: srv},
		{name: "b", port: freePort(t), server: srv},
	}
	for _, in := range instances {
		in.start(t)
	}
	t.Cleanup(func() {
		for _, in := range instances {
			in.kill()
		}
	})
	for _, in := range instances {
		in.waitReady(t)
	}
	lb := startHAProxy(t, haproxy, dir, instances)
	for _, in := range instances {
		lb.waitUp(t, in.name)
	}

	ctx, stop := context.WithCancel(context.Background())
	l := new(load)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() { l.client(ctx, lb.addr) })
	}
	defer func() {
		stop()
		wg.Wait()
	}()

	time.Sleep(afterRestart)
	for _, in := range instances {
		in.restart(t)
		in.waitReady(t)
		lb.waitUp(t, in.name)
		time.Sleep(afterRestart)
	}
	stop()
	wg.Wait()
	return l
}

// An instance is one demo server process behind the balancer.
type instance struct {
	name, port string
	server

	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

func (in *instance) start(t *testing.T) {
	t.Helper()
	var cmd *exec.Cmd
	if in.bin != "" {
		cmd = exec.Command(in.bin)
		cmd.Env = append(os.Environ(), "PORT="+in.port)
	} else {
		args := append([]string{"-addr", "127.0.0.1:" + in.port}, in.args...)
		cmd = exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), seedArgs+"="+strings.Join(args, " "), "GORACE=atexit_sleep_ms=0")
	}
	in.logs = &syncBuffer{}
	cmd.Stderr = in.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd = cmd
	exited := make(chan struct{})
	in.exited = exited
	go func() { // owned: restart and kill wait for exited
		in.err = cmd.Wait()
		close(exited)
	}()
}

// restart sends SIGTERM, waits for a clean exit and starts the instance
// again on its port.
func (in *instance) restart(t *testing.T) {
	t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("instance %s did not exit 30s after SIGTERM:\n%s", in.name, in.logs)
	}
	if in.err != nil {
		t.Errorf("instance %s: %v (want exit 0)\n%s", in.name, in.err, in.logs)
	}
	if in.bin == "" {
		for _, event := range []string{"shutdown-initiated", "stopped-accepting", "drained", "cleanup-done"} {
			if !strings.Contains(in.logs.String(), "event="+event) {
				t.Errorf("instance %s did not log the event %s", in.name, event)
			}
		}
	}
	in.start(t)
}

func (in *instance) kill() {
	if in.cmd == nil {
		return
	}
	in.cmd.Process.Kill()
	<-in.exited
}

// waitReady waits until the instance's health check answers 200.
func (in *instance) waitReady(t *testing.T) {
	t.Helper()
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.Get("http://127.0.0.1:" + in.port + in.check)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-in.exited:
			t.Fatalf("instance %s exited: %v\n%s", in.name, in.err, in.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not ready after 20s:\n%s", in.name, in.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A balancer is a running HAProxy.
type balancer struct {
	addr   string
	socket string // the stats socket
	logs   *syncBuffer
}

func startHAProxy(t *testing.T, haproxy, dir string, instances []*instance) *balancer {
	t.Helper()
	check := instances[0].check
	lb := &balancer{addr: "127.0.0.1:" + freePort(t), socket: filepath.Join(dir, "haproxy.sock"), logs: &syncBuffer{}}
	var servers strings.Builder
	for _, in := range instances {
		fmt.Fprintf(&servers, "  server %s 127.0.0.1:%s check\n", in.name, in.port)
	}
	// TCP mode and no retries, as an L4 service proxy: a connection the
	// balancer cannot make, or one closed under a request, is the
	// client's failure. The health check asks /readyz (of the demo).
	cfg := fmt.Sprintf(`global
  stats socket %s mode 600 level admin
  maxconn 1000

defaults
  mode tcp
  retries 0
  timeout connect 2s
  timeout client 30s
  timeout server 30s

frontend fe
  bind %s
  default_backend be

backend be
  balance roundrobin
  option httpchk GET %s
  http-check expect status 200
  default-server inter %dms fall %d rise %d
%s`, lb.socket, lb.addr, check, checkInterval.Milliseconds(), checkFall, checkRise, servers.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy rejects its configuration: %v\n%s\n%s", err, out, cfg)
	}
	cmd := exec.Command(haproxy, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = lb.logs, lb.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { // owned by the cleanup below
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	return lb
}

// waitUp waits until the balancer sends traffic to the named server.
func (lb *balancer) waitUp(t *testing.T, server string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		status, err := lb.status(server)
		if err == nil && status == "UP" {
			return
		}
		last = fmt.Sprint(status, err)
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("haproxy did not mark %s up within 20s (last: %s)\n%s", server, last, lb.logs)
}

// status asks HAProxy's stats socket for the status of a server of the
// backend: "UP", "DOWN", or a transition such as "UP 1/2".
func (lb *balancer) status(server string) (string, error) {
	c, err := net.DialTimeout("unix", lb.socket, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(out, []byte("# "))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return "", fmt.Errorf("reading show stat: %v", err)
	}
	col := func(name string) int { return slices.Index(rows[0], name) }
	px, sv, st := col("pxname"), col("svname"), col("status")
	if px < 0 || sv < 0 || st < 0 {
		return "", fmt.Errorf("show stat has no pxname, svname or status column: %q", rows[0])
	}
	for _, row := range rows[1:] {
		if len(row) > st && row[px] == "be" && row[sv] == server {
			return row[st], nil
		}
	}
	return "", fmt.Errorf("server %s not in show stat", server)
}

// A load is keep-alive clients that count every request. A client never
// retries: a request is sent once, and fails unless answered 200. It
// reconnects when the server says "Connection: close", or after a
// failure, 50ms later, as a client would back off.
type load struct {
	ok       atomic.Int64
	mu       sync.Mutex
	failures map[string]int // by kind: "lost", "status 503", ...
}

func (l *load) fail(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures == nil {
		l.failures = make(map[string]int)
	}
	l.failures[kind]++
}

// failed returns the number of failed requests. Call it once the clients
// are done.
func (l *load) failed() int {
	n := 0
	for _, v := range l.failures {
		n += v
	}
	return n
}

func (l *load) client(ctx context.Context, addr string) {
	var c net.Conn
	var br *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	backoff := func() {
		if c != nil {
			c.Close()
			c = nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	for ctx.Err() == nil {
		if c == nil {
			var err error
			if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
				l.fail("connect")
				backoff()
				continue
			}
			br = bufio.NewReader(c)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
			l.fail("lost (write)")
			backoff()
			continue
		}
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		switch {
		case err != nil:
			l.fail("lost")
			backoff()
			continue
		case resp.StatusCode != http.StatusOK:
			l.fail(fmt.Sprintf("status %d", resp.StatusCode))
			backoff()
			continue
		}
		l.ok.Add(1)
		if resp.Close {
			c.Close()
			c = nil
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// A syncBuffer collects a process's output for the failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
