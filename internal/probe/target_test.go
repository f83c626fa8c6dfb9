package probe

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/internal/testchild"
	"github.com/drain-go/drain/internal/probe/report"
)

// TestRunTarget loads a server the probe did not start, for a while,
// without a signal.
func TestRunTarget(t *testing.T) {
	addr := testchild.Serve(t)
	rep, err := Run(context.Background(), Config{
		Target:   "http://" + addr,
		Server:   Command{ReadyPath: "/ready"},
		Duration: 300 * time.Millisecond,
		Load:     Load{Busy: 2, Slow: 1, SlowPath: "/slow?ms=100", Idle: 2, Silent: 2, WebSockets: 1, SSE: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", rep)
	if !rep.SignalAt.IsZero() || !rep.Exit.At.IsZero() || rep.PID != 0 || rep.Signal != nil || rep.Addr != addr {
		t.Errorf("signal %v at %v, exit %v, pid %d, addr %s: want no signal and no exit", rep.Signal, rep.SignalAt, rep.Exit, rep.PID, rep.Addr)
	}
	total := rep.Total()
	if rep.Busy.Status[2] == 0 || total.Lost != 0 || total.Refused != 0 || rep.SlowCompleted() != 1 {
		t.Errorf("requests %+v, slow %+v; want answered", total, rep.Slow)
	}
	// The streams were open at the end: aborted, not cut.
	if rep.WebSocket.Aborted != 1 || rep.SSE.Aborted != 1 {
		t.Errorf("websocket %+v, sse %+v; want aborted", rep.WebSocket, rep.SSE)
	}
	if d := rep.End.Sub(rep.Start); d < 300*time.Millisecond {
		t.Errorf("load ran %v, want the Duration", d)
	}
	v := rep.Verdict
	if !v.Pass || len(v.Warnings) == 0 || v.Warnings[len(v.Warnings)-1].Code != report.CodeNoSignal {
		t.Errorf("verdict:\n%s; want a pass with a warning %s", v, report.CodeNoSignal)
	}
}

func TestRunTargetNotServing(t *testing.T) {
	port := testchild.FreePort(t)
	_, err := Run(context.Background(), Config{
		Target:   "127.0.0.1:" + strconv.Itoa(port),
		Server:   Command{ListenTimeout: 200 * time.Millisecond},
		Duration: time.Second,
	})
	if !errors.Is(err, ErrNotListening) {
		t.Errorf("error %v, want ErrNotListening", err)
	}
}

// startOther starts the test binary as a child server, as some other
// program would, and returns it and its address. The test reaps it.
func startOther(t *testing.T, mode string) (*exec.Cmd, string) {
	t.Helper()
	port := testchild.FreePort(t)
	cmd := exec.Command(os.Args[0], "-port="+strconv.Itoa(port))
	cmd.Env = append(os.Environ(), childCommand(mode).Env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// TestRunTargetPID signals a process the probe did not start, and sees it
// exit.
func TestRunTargetPID(t *testing.T) {
	tests := []struct {
		mode      string
		killAfter time.Duration
		killed    bool
	}{{"graceful", 0, false}, {"stubborn", time.Second, true}}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			cmd, addr := startOther(t, tt.mode)
			rep, err := Run(context.Background(), Config{
				Target:    addr,
				PID:       cmd.Process.Pid,
				Server:    Command{ListenTimeout: 30 * time.Second},
				Load:      Load{Busy: 1, Slow: 1, SlowPath: "/slow?ms=500"},
				Warmup:    200 * time.Millisecond,
				KillAfter: tt.killAfter,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("report:\n%s", rep)
			e := rep.Exit
			if e.At.IsZero() || !e.Unknown || e.Code != -1 || e.Killed != tt.killed || !strings.HasPrefix(e.String(), "exited") {
				t.Errorf("exit %+v (%v); want seen, unknown, killed %v", e, e, tt.killed)
			}
			if !e.At.After(rep.SignalAt) || rep.PID != cmd.Process.Pid || rep.Command != nil {
				t.Errorf("exit at %v, signal at %v, pid %d, command %q", e.At, rep.SignalAt, rep.PID, rep.Command)
			}
			v := rep.Verdict
			codes := findingCodes(v.Reasons)
			if slices.Contains(codes, report.CodeExitCode) || slices.Contains(codes, report.CodeKilled) != tt.killed {
				t.Errorf("verdict:\n%s", v)
			}
			cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || tt.killed != (ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
				t.Errorf("the process ended with %v", cmd.ProcessState)
			}
		})
	}
}

func TestRunTargetPIDGone(t *testing.T) {
	cmd, addr := startOther(t, "exit3")
	cmd.Wait()
	_, err := Run(context.Background(), Config{Target: addr, PID: cmd.Process.Pid})
	if !errors.Is(err, ErrExited) {
		t.Errorf("error %v, want ErrExited", err)
	}
}

func findingCodes(fs []report.Finding) []string {
	codes := make([]string, len(fs))
	for i, f := range fs {
		codes[i] = f.Code
	}
	return codes
}
