package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/seed"
	"go.uber.org/goleak"
)

// The test binary runs the seed itself when asked to, so that the tests
// can send real signals to a real process.
func TestMain(m *testing.M) {
	if args := os.Getenv("SEED_ARGS"); args != "" {
		os.Exit(seed.Run(strings.Fields(args), os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// startSeed runs the seed with args and waits until it serves.
func startSeed(t *testing.T, args string) (*exec.Cmd, string) {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SEED_ARGS=-addr 127.0.0.1:"+port+" "+args)
	var logs strings.Builder
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serving := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "drain: serving") {
				close(serving)
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-copied })
	select {
	case <-serving:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-copied
		t.Fatalf("the seed did not start:\n%s", logs.String())
	}
	return cmd, "127.0.0.1:" + port
}

// get sends GET path on a new connection and returns a channel that
// receives the status and body. Once get returns, the request is written:
// drain answers it whatever the signal that follows.
func get(t *testing.T, addr, path string) <-chan string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: seed\r\n\r\n", path)
	answered := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			answered <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answered <- fmt.Sprint(resp.StatusCode, " ", string(body))
	}()
	return answered
}

func TestSignalsDrainTheSeed(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, addr := startSeed(t, "-delay 500ms")
			answered := get(t, addr, "/")
			cmd.Process.Signal(sig)
			if got := <-answered; got != "200 Hello from drain!\n" {
				t.Errorf("GET / in flight at %v: %q", sig, got)
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("exit after %v: %v, want 0", sig, err)
			}
		})
	}
}

func TestSeedForcedExitsOne(t *testing.T) {
	cmd, addr := startSeed(t, "-delay 10s -timeout 200ms")
	answered := get(t, addr, "/")
	cmd.Process.Signal(syscall.SIGTERM)
	if got := <-answered; !strings.HasPrefix(got, "503 ") {
		t.Errorf("request cut by the forced shutdown: %q, want a 503", got)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
}

func TestSeedBadFlags(t *testing.T) {
	if code := seed.Run([]string{"-delay", "soon"}, io.Discard); code != 2 {
		t.Errorf("run with a bad flag = %d, want 2", code)
	}
	if code := seed.Run([]string{"-addr", "127.0.0.1:0", "-timeout", "-1s"}, io.Discard); code != 1 {
		t.Errorf("run with a negative timeout = %d, want 1", code)
	}
}
