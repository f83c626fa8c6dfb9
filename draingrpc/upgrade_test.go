//go:build linux

package draingrpc_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/draingrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// upgradeEnv asks the test binary to run a gRPC server with an Upgrader,
// whose PID file and address go in the directory it names.
const upgradeEnv = "DRAINGRPC_UPGRADE"

func init() {
	if dir := os.Getenv(upgradeEnv); dir != "" {
		os.Exit(runUpgradable(dir))
	}
}

func runUpgradable(dir string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("process", os.Getpid())
	up := &drain.Upgrader{PIDFile: filepath.Join(dir, "pid")}
	ln, err := up.Listen("grpc", "tcp", "127.0.0.1:0")
	if err != nil {
		log.Error("listen", "err", err)
		return 3
	}
	if err := os.WriteFile(filepath.Join(dir, "addr"), []byte(ln.Addr().String()), 0o644); err != nil {
		log.Error("addr", "err", err)
		return 3
	}
	g := &drain.Group{Upgrader: up, Logger: log}
	s := draingrpc.NewServer()
	testpb.RegisterTestServiceServer(s.GRPC, testService{})
	s.Listener = ln
	g.Add(s)
	return drain.ExitCode(g.Run(context.Background()))
}

// TestUpgrade upgrades a gRPC server in place twice while 8 callers send
// RPCs back to back over one client connection: the old process sends
// GOAWAY, the client reconnects to the same address and lands on the new
// process, which inherited the listening socket. No RPC may fail, and each
// old process must exit 0.
func TestUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	const prSetChildSubreaper = 36 // adopt the generations orphaned below the test
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Fatal(errno)
	}
	defer syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
	dir := t.TempDir()
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	logs := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	pidNow := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return pid
	}
	waitPID := func(old int) int {
		t.Helper()
		var pid int
		waitFor(t, "a new PID in the PID file", func() bool { pid = pidNow(); return pid != 0 && pid != old })
		return pid
	}
	// waitExit waits for a descendant to exit, once it has become the
	// test's child (when its parent has exited), and returns its code.
	waitExit := func(pid int) int {
		t.Helper()
		code := -1
		waitFor(t, "process "+strconv.Itoa(pid)+" to exit", func() bool {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			if err != nil && !errors.Is(err, syscall.ECHILD) {
				t.Fatal(err)
			}
			code = ws.ExitStatus()
			return got == pid
		})
		return code
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), upgradeEnv+"="+dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := []int{cmd.Process.Pid}
	defer func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Wait()
	}()
	waitPID(0)
	addr, _ := os.ReadFile(filepath.Join(dir, "addr"))
	cc, err := grpc.NewClient(string(addr), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stopCalls := callInLoops(testpb.NewTestServiceClient(cc), 8)

	for range 2 {
		time.Sleep(time.Second)
		old := pids[len(pids)-1]
		syscall.Kill(old, syscall.SIGHUP)
		pids = append(pids, waitPID(old))
		code := 0
		if old == cmd.Process.Pid {
			cmd.Wait()
			code = cmd.ProcessState.ExitCode()
		} else {
			code = waitExit(old)
		}
		if code != 0 {
			t.Errorf("old process %d exited %d\n%s", old, code, logs())
		}
	}
	time.Sleep(500 * time.Millisecond)
	unary := stopCalls()
	if unary.refused > 0 || len(unary.failed) > 0 || unary.ok < 100 {
		t.Errorf("%d RPCs answered, %d refused, %d failed: %v\n%s", unary.ok, unary.refused, len(unary.failed), unary.failed[:min(5, len(unary.failed))], logs())
	} else {
		t.Logf("%d RPCs answered across 2 upgrades, none failed; PIDs %v", unary.ok, pids)
	}
	last := pids[len(pids)-1]
	syscall.Kill(last, syscall.SIGTERM)
	if code := waitExit(last); code != 0 {
		t.Errorf("last process exited %d\n%s", code, logs())
	}
}
