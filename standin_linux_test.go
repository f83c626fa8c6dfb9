package drain

import (
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A stand-in ends when the last process below it has, even if a
// generation says it serves at that very moment (the stand-in once hung
// on that message, 4 times in 30).
func TestStandInEnds(t *testing.T) {
	leakcheck(t)
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	reap := make(chan struct{})
	close(reap)
	for i := range 10 {
		st, err := newStandIn()
		if err != nil {
			t.Fatal(err)
		}
		c := exec.Command("sleep", "0.1")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		pid := c.Process.Pid
		peer, err := syscall.Dup(int(st.peer.Fd())) // run closes st.peer
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- st.run(pid, []os.Signal{syscall.SIGUSR2}, reap, slog.New(slog.DiscardHandler)) }()
		for { // until the process is a zombie: exited, not yet reaped
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if err != nil || strings.Contains(string(b), ") Z ") {
				break
			}
			time.Sleep(time.Millisecond)
		}
		syscall.Write(peer, []byte("serving 999999"))
		select {
		case <-done:
			syscall.Close(peer)
		case <-time.After(10 * time.Second):
			t.Fatalf("iteration %d: the stand-in did not end once every process below it had", i)
		}
	}
}

// Until its own drain and cleanup are over, a stand-in reaps nothing: the
// process's handlers and cleanup functions wait for their own commands.
func TestStandInReapsOnlyAfterCleanup(t *testing.T) {
	leakcheck(t)
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	st, err := newStandIn()
	if err != nil {
		t.Fatal(err)
	}
	serving := exec.Command("sleep", "0.5")
	if err := serving.Start(); err != nil {
		t.Fatal(err)
	}
	reap := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- st.run(serving.Process.Pid, []os.Signal{syscall.SIGUSR2}, reap, slog.New(slog.DiscardHandler))
	}()
	for range 5 {
		c := exec.Command("true")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // exited: a stand-in that reaps would take it
		if err := c.Wait(); err != nil {
			t.Errorf("a command of the draining process: %v", err)
		}
	}
	close(reap)
	if err := <-done; err != nil {
		t.Errorf("stand-in: %v, want nil: the process serving exited 0", err)
	}
}
