package drain

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The signal tests run the test binary again as a child process that
// serves with a Group, and send it real signals.
const childEnv = "DRAIN_TEST_CHILD"

// runChild is the child's main. It prints its address on stdout and logs
// on stderr, and exits with Run's exit code.
func runChild(name string) int {
	timeout, _ := time.ParseDuration(os.Getenv("DRAIN_TEST_TIMEOUT"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	mux := testMux()
	mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	g := &Group{Timeout: timeout, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	announce := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stderr, "REQUEST", r.URL.Path)
		mux.ServeHTTP(w, r)
	})
	g.Add(&HTTP{Name: name, Server: &http.Server{Handler: announce}, Listener: ln})
	g.Cleanup("database", func(context.Context) error {
		fmt.Fprintln(os.Stderr, "CLEANUP database closed")
		return nil
	})
	fmt.Printf("ADDR %s\n", ln.Addr())
	return ExitCode(g.Run(context.Background()))
}

// A child is a running child process.
type child struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string

	mu     sync.Mutex
	stderr strings.Builder
	exited chan struct{}
	err    error
}

func startChild(t *testing.T, timeout time.Duration) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=child", "DRAIN_TEST_TIMEOUT="+timeout.String())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, exited: make(chan struct{})}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.mu.Lock()
			c.stderr.WriteString(sc.Text() + "\n")
			c.mu.Unlock()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "ADDR ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child did not start: %q %v\n%s", line, err, c.logs())
	}
	c.addr = strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	go func() {
		io.Copy(io.Discard, stdout)
		<-copied
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.exited
	})
	return c
}

func (c *child) logs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

func (c *child) signal(sig os.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// wait waits for the child to exit and returns its exit code.
func (c *child) wait() int {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("child did not exit\n%s", c.logs())
	}
	return c.cmd.ProcessState.ExitCode()
}

func (c *child) waitLog(s string) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("%q in the child's log", s), func() bool { return strings.Contains(c.logs(), s) })
}

// request sends a request in the background; the channel receives its
// response or error.
func (c *child) request(path string) <-chan error { return getRaw(c.addr, path, 1) }

// getRaw sends n GET requests for path to addr, each on a connection of
// its own, in the background; the channel receives each one's error, nil
// for a 200.
func getRaw(addr, path string, n int) <-chan error {
	res := make(chan error, n)
	for range n {
		go func() {
			rc, err := dialRaw(addr)
			if err != nil {
				res <- err
				return
			}
			defer rc.Close()
			resp, err := rc.do("GET", path)
			if err == nil && resp.status != 200 {
				err = fmt.Errorf("status %d", resp.status)
			}
			res <- err
		}()
	}
	return res
}

func TestSignalDrainsChild(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			leakcheck(t)
			c := startChild(t, 10*time.Second)
			answered := c.request("/slow?ms=500")
			c.waitLog("REQUEST /slow")
			c.signal(sig)
			if err := <-answered; err != nil {
				t.Errorf("in-flight request: %v", err)
			}
			if code := c.wait(); code != 0 {
				t.Errorf("exit code %d, want 0\n%s", code, c.logs())
			}
			for _, want := range []string{"signal=" + sig.String(), "shutdown began", "CLEANUP database closed", "shutdown complete"} {
				if !strings.Contains(c.logs(), want) {
					t.Errorf("log lacks %q:\n%s", want, c.logs())
				}
			}
		})
	}
}

func TestSignalTimeoutExitsOne(t *testing.T) {
	leakcheck(t)
	c := startChild(t, 300*time.Millisecond)
	stuck := c.request("/stuck")
	c.waitLog("REQUEST /stuck")
	c.signal(syscall.SIGTERM)
	if code := c.wait(); code != 1 {
		t.Errorf("exit code %d, want 1\n%s", code, c.logs())
	}
	<-stuck
	for _, want := range []string{"request still running", "path=/stuck", "CLEANUP database closed", "shutdown forced"} {
		if !strings.Contains(c.logs(), want) {
			t.Errorf("log lacks %q:\n%s", want, c.logs())
		}
	}
}

func TestSecondSignalExitsOne(t *testing.T) {
	leakcheck(t)
	c := startChild(t, time.Minute)
	stuck := c.request("/stuck")
	c.waitLog("REQUEST /stuck")
	c.signal(syscall.SIGTERM)
	c.waitLog("shutdown began")
	start := time.Now()
	c.signal(syscall.SIGINT)
	if code := c.wait(); code != 1 {
		t.Errorf("exit code %d, want 1\n%s", code, c.logs())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("child exited %v after the second signal", took)
	}
	<-stuck
	if !strings.Contains(c.logs(), "second signal") || !strings.Contains(c.logs(), "CLEANUP database closed") {
		t.Errorf("log lacks the second signal or the cleanup:\n%s", c.logs())
	}
}
