package probe

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartWaitsUntilListening(t *testing.T) {
	p, err := startServer(context.Background(), childCommand("graceful", "-port={port}"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	nc, err := net.Dial("tcp", p.address())
	if err != nil {
		t.Fatalf("Start returned, but the server does not accept: %v", err)
	}
	nc.Close()

	if err := p.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done()
	e := p.exit()
	if e.Code != 0 || e.Signal != nil || e.Killed || e.String() != "0" {
		t.Errorf("exit %+v (%v), want 0", e, e)
	}
	// The port reached the child in its arguments and in PORT.
	port := strconv.Itoa(p.port)
	if want := `args=["-port=` + port + `"] PORT=` + port; !strings.Contains(p.output(), want) {
		t.Errorf("output %q lacks %q", p.output(), want)
	}
	if err := p.signal(syscall.SIGTERM); !errors.Is(err, ErrExited) {
		t.Errorf("Signal after exit: %v, want ErrExited", err)
	}
	p.close() // again: harmless
}

func TestStartFails(t *testing.T) {
	tests := []struct {
		name    string
		cmd     Command
		want    error
		message string
	}{
		{"exits before listening", childCommand("exit3"), ErrExited, "failing on purpose"},
		{"never listens", func() Command {
			c := childCommand("deaf")
			c.ListenTimeout = 300 * time.Millisecond
			return c
		}(), ErrNotListening, "no connection accepted"},
		{"no such program", Command{Args: []string{"/nonexistent/server"}}, nil, "start server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := startServer(context.Background(), tt.cmd)
			if err == nil {
				p.close()
				t.Fatal("Start succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q lacks %q", err, tt.message)
			}
		})
	}
}

// TestStartCancelled checks that a cancelled context stops the wait and
// kills the process (goleak and the reaping in Start check the rest).
func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p, err := startServer(ctx, childCommand("deaf"))
	if err == nil {
		p.close()
		t.Fatal("Start succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestContextEndKillsProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := startServer(ctx, childCommand("stubborn"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	cancel()
	<-p.done()
	if e := p.exit(); !e.Killed || e.Signal != syscall.SIGKILL || e.shellCode() != 137 {
		t.Errorf("exit %+v (%v), want killed by SIGKILL", e, e)
	}
}

func TestExitString(t *testing.T) {
	tests := []struct {
		e    Exit
		want string
	}{
		{Exit{Code: 0}, "0"},
		{Exit{Code: 1}, "1"},
		{Exit{Code: -1, Signal: syscall.SIGTERM}, "143 (SIGTERM)"},
		{Exit{Code: -1, Signal: syscall.SIGKILL, Killed: true}, "137 (killed by the probe)"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.e, got, tt.want)
		}
	}
}

// TestStartReadyPath checks that Start waits for a 2xx answer on the
// ready path, and gives up on one that never comes.
func TestStartReadyPath(t *testing.T) {
	c := childCommand("slow-ready")
	c.ReadyPath = "/ready"
	p, err := startServer(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	cl := newClient(p.address(), 5*time.Second)
	defer cl.close()
	if x := cl.get(context.Background(), "/ready"); x.err != nil || x.status != 200 {
		t.Errorf("GET /ready once Start returned: %d, %v; want 200", x.status, x.err)
	}

	c = childCommand("graceful")
	c.ReadyPath = "/missing"
	c.ListenTimeout = 3 * time.Second // long enough for the child to start on a busy machine
	if p, err := startServer(context.Background(), c); !errors.Is(err, errNotReady) || !strings.Contains(err.Error(), "status 404") {
		if p != nil {
			p.close()
		}
		t.Errorf("error %v, want errNotReady after status 404", err)
	}
}
