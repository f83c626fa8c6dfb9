//go:build unix

package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// exited waits for p's exit, for at most 10 s.
func exited(t *testing.T, p *process) exitStatus {
	t.Helper()
	select {
	case <-p.exited:
		return p.status
	case <-time.After(10 * time.Second):
		p.kill()
		<-p.exited
		t.Fatal("the process did not exit")
		return exitStatus{}
	}
}

func TestProcess(t *testing.T) {
	t.Run("exit code and output", func(t *testing.T) {
		p, err := startProcess([]string{"/bin/sh", "-c", `echo "port $PORT"; echo oops >&2; exit 3`}, 4000)
		if err != nil {
			t.Fatal(err)
		}
		if st := exited(t, p); st.code != 3 || st.bySignal() || st.String() != "exit 3" {
			t.Errorf("status %+v (%s), want exit 3", st, st)
		}
		if out := string(p.output.Bytes()); out != "port 4000\noops\n" {
			t.Errorf("output %q", out)
		}
	})
	t.Run("signal", func(t *testing.T) {
		p, err := startProcess([]string{"/bin/sleep", "60"}, 4000)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.signal(syscall.SIGTERM); !ok {
			t.Error("SIGTERM not delivered")
		}
		if st := exited(t, p); st.signal != syscall.SIGTERM || st.String() != "killed by SIGTERM" {
			t.Errorf("status %+v (%s), want killed by SIGTERM", st, st)
		}
		if _, ok := p.signal(syscall.SIGTERM); ok {
			t.Error("SIGTERM delivered to a process reaped")
		}
		p.kill() // a no-op once it has exited
	})
	t.Run("kill the group", func(t *testing.T) {
		// The shell waits for its child: it exits only once the child is
		// killed with it.
		p, err := startProcess([]string{"/bin/sh", "-c", "/bin/sleep 60 & wait"}, 4000)
		if err != nil {
			t.Fatal(err)
		}
		p.kill()
		if st := exited(t, p); st.signal != syscall.SIGKILL {
			t.Errorf("status %+v, want killed by SIGKILL", st)
		}
	})
	t.Run("no such command", func(t *testing.T) {
		if _, err := startProcess([]string{"/nonexistent/server"}, 4000); err == nil || !strings.Contains(err.Error(), "soak: start") {
			t.Errorf("start: %v", err)
		}
	})
}

func TestBoundedBuffer(t *testing.T) {
	b := &boundedBuffer{max: 8}
	for _, s := range []string{"12345", "6789", "abc"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Errorf("Write(%q) = %d, %v", s, n, err)
		}
	}
	want := "12345678\n[soak: 4 more bytes of output not kept]\n"
	if got := string(b.Bytes()); got != want {
		t.Errorf("Bytes = %q, want %q", got, want)
	}
	if got := string(b.Bytes()); got != want {
		t.Errorf("Bytes again = %q, want %q", got, want)
	}
}
