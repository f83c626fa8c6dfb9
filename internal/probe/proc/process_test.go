package proc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/wire"
)

func TestStartWaitsUntilListening(t *testing.T) {
	p, err := Start(context.Background(), childCommand("graceful", "-port={port}"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("Start returned, but the server does not accept: %v", err)
	}
	nc.Close()

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	e := p.Exit()
	if e.Code != 0 || e.Signal != nil || e.Killed || e.String() != "0" {
		t.Errorf("exit %+v (%v), want 0", e, e)
	}
	// The port reached the child in its arguments and in PORT.
	port := strconv.Itoa(p.port)
	if want := `args=["-port=` + port + `"] PORT=` + port; !strings.Contains(p.Output(), want) {
		t.Errorf("output %q lacks %q", p.Output(), want)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrExited) {
		t.Errorf("Signal after exit: %v, want ErrExited", err)
	}
	p.Close() // again: harmless
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
			p, err := Start(context.Background(), tt.cmd, false)
			if err == nil {
				p.Close()
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
	p, err := Start(ctx, childCommand("deaf"), false)
	if err == nil {
		p.Close()
		t.Fatal("Start succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestContextEndKillsProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := Start(ctx, childCommand("stubborn"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cancel()
	<-p.Done()
	if e := p.Exit(); !e.Killed || e.Signal != syscall.SIGKILL || e.ShellCode() != 137 {
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
	p, err := Start(context.Background(), c, false)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cl := wire.NewClient(p.Addr(), 5*time.Second)
	defer cl.Close()
	if x := cl.Do(context.Background(), wire.HTTP1Request(http.MethodGet, "/ready", p.Addr())); x.Err != nil || x.Status != 200 {
		t.Errorf("GET /ready once Start returned: %d, %v; want 200", x.Status, x.Err)
	}

	c = childCommand("graceful")
	c.ReadyPath = "/missing"
	c.ListenTimeout = 3 * time.Second // long enough for the child to start on a busy machine
	if p, err := Start(context.Background(), c, false); !errors.Is(err, errNotReady) || !strings.Contains(err.Error(), "status 404") {
		if p != nil {
			p.Close()
		}
		t.Errorf("error %v, want errNotReady after status 404", err)
	}
}
