package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/seed"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(seedEnv) != "" { // drainprobe runs the test binary as the demo server
		os.Exit(seed.Run(os.Args[1:], os.Stderr))
	}
	// Children built with -race sleep a second on their way out, which
	// drainprobe would rightly report as exit lag.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if buildDir != "" {
			os.RemoveAll(buildDir)
		}
	}))
}

// probeRun runs drainprobe with args and returns its exit status, stdout
// and stderr.
func probeRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	if testing.Verbose() {
		t.Logf("drainprobe %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

// A jsonReport is what the tests read of a --json report, as a user's
// program would decode it.
type jsonReport struct {
	Signal      string         `json:"signal"`
	SignalGroup bool           `json:"signal_group"`
	Verdict     report.Verdict `json:"verdict"`
	Load        struct {
		HTTP2   bool `json:"http2"`
		Streams int  `json:"streams"`
		GRPC    bool `json:"grpc"`
	} `json:"load"`
	Times struct {
		QuietClosed *float64 `json:"quiet_closed"`
		Exit        *float64 `json:"exit"`
	} `json:"times_ms"`
	Exit *struct {
		Code int `json:"code"`
	} `json:"exit"`
	Counts struct {
		Lost int `json:"lost"`
	} `json:"counts"`
	ByKind struct {
		Busy struct {
			Answered int `json:"answered"`
		} `json:"busy"`
	} `json:"by_kind"`
	Slow struct {
		Sent      int `json:"sent"`
		Completed int `json:"completed"`
	} `json:"slow"`
	Held struct {
		SilentOpen             int `json:"silent_open"`
		SilentClosedBeforeExit int `json:"silent_closed_before_exit"`
	} `json:"held"`
	Streams struct {
		Watch struct {
			Open          int `json:"open"`
			ClosedCleanly int `json:"closed_cleanly"`
		} `json:"watch"`
	} `json:"streams"`
}

// report decodes a --json report.
func decodeReport(t *testing.T, stdout string) *jsonReport {
	t.Helper()
	v := new(jsonReport)
	if err := json.Unmarshal([]byte(stdout), v); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, stdout)
	}
	return v
}

// With no command, drainprobe probes drain's own demo server, and it
// passes: the newcomer's first command.
func TestDemoPasses(t *testing.T) {
	code, stdout, stderr := probeRun(t, "--json")
	if code != exitPass {
		t.Fatalf("exit %d, want %d (PASS)\n%s%s", code, exitPass, stdout, stderr)
	}
	v := decodeReport(t, stdout)
	if !v.Verdict.Pass || v.Counts.Lost != 0 || v.Slow.Completed != v.Slow.Sent || v.Slow.Sent != 3 {
		t.Errorf("verdict %+v, lost %d, slow %d of %d", v.Verdict, v.Counts.Lost, v.Slow.Completed, v.Slow.Sent)
	}
	if v.Exit.Code != 0 || v.Held.SilentClosedBeforeExit != v.Held.SilentOpen {
		t.Errorf("exit %+v, held %+v", v.Exit, v.Held)
	}
}

// The text report and the HTML page tell the same story as the JSON.
func TestTextAndHTMLReports(t *testing.T) {
	page := filepath.Join(t.TempDir(), "report.html")
	code, stdout, stderr := probeRun(t, "--quiet", "--busy", "4", "--idle", "2", "--silent", "2", "--warmup", "500ms", "--slow-path", "/slow?ms=800", "--html", page)
	if code != exitPass {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"drain's demo server", "answered 2xx", "3 of 3 answered", "silent sockets", "\nPASS\n", "report: " + page} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	for _, want := range []string{"<svg", `class="c2xx"`, "SIGTERM", ">exit<", "badge pass", `<script type="application/json" id="report">{`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	// The page carries the JSON report itself.
	i := strings.Index(html, `id="report">`) + len(`id="report">`)
	j := strings.Index(html[i:], "</script>")
	var raw map[string]any
	if err := json.Unmarshal([]byte(html[i:i+j]), &raw); err != nil || raw["verdict"] == nil {
		t.Errorf("the JSON in the page does not parse: %v", err)
	}
}

// A failing run's text report says, under each reason, what it means and
// what usually fixes it, and ends with the server's last lines of output.
func TestTextReportOnFail(t *testing.T) {
	code, stdout, stderr := probeRun(t, "--quiet", "--busy", "4", "--slow", "0", "--idle", "0", "--silent", "0", "--warmup", "500ms", "--", server(t, "exitone"))
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFail, stdout, stderr)
	}
	for _, want := range []string{"\nFAIL\n", "  - exit code 1\n", "    Supervisors (systemd, Kubernetes, CI)", "the server's output ends with", "  | ", "drain: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text report lacks %q:\n%s", want, stdout)
		}
	}
}

// A server with one worker per connection, whose workers the quiet
// connections all take, cannot be probed with them: drainprobe says so and
// what to change (exit 2), rather than that its load tested nothing.
func TestStarvedServer(t *testing.T) {
	bin := server(t, "perconn")
	code, stdout, stderr := probeRun(t, "--quiet", "--busy", "2", "--slow", "0", "--idle", "2", "--silent", "3", "--warmup", "300ms", "--", bin)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitUsage, stdout, stderr)
	}
	for _, want := range []string{"starved", "5 quiet connections open", "one worker per connection", "--idle and --silent"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// Without quiet connections it can be probed.
	code, stdout, stderr = probeRun(t, "--quiet", "--busy", "1", "--slow", "0", "--idle", "0", "--silent", "0", "--warmup", "300ms", "--", bin)
	if code == exitUsage {
		t.Errorf("without quiet connections: exit %d\n%s%s", code, stdout, stderr)
	}
}

// A server that lingers for a reason of its own while quiet connections
// are open is told that it lingered, not that it waited for them: the probe
// closed them and it lived on.
func TestLingerIsNotHeldSockets(t *testing.T) {
	bin := server(t, "linger")
	code, stdout, stderr := probeRun(t, "--json", "--busy", "4", "--slow", "0", "--idle", "3", "--silent", "3", "--warmup", "500ms", "--", bin)
	if code != exitFail {
		t.Fatalf("exit %d, want %d\n%s", code, exitFail, stderr)
	}
	v := decodeReport(t, stdout)
	if got := reasons(v); !slices.Equal(got, []string{"exit-lag"}) {
		t.Errorf("reasons %v, want [exit-lag] alone", got)
	}
	if len(v.Verdict.Reasons) > 0 && !strings.Contains(v.Verdict.Reasons[0].Text, "lingered for another reason") {
		t.Errorf("the exit-lag reason does not say the quiet connections were not the cause: %q", v.Verdict.Reasons[0].Text)
	}
	if v.Times.QuietClosed == nil {
		t.Error("the report does not say when the probe closed the quiet connections")
	}
}

// With --http2 the demo's busy and slow requests are HTTP/2 streams: it
// passes, every stream it took answered, and the report says the load was
// HTTP/2.
func TestHTTP2Demo(t *testing.T) {
	code, stdout, stderr := probeRun(t, "--json", "--http2", "--streams", "4", "--busy", "4", "--slow", "1", "--slow-path", "/slow?ms=800", "--idle", "1", "--silent", "1", "--warmup", "500ms")
	if code != exitPass {
		t.Fatalf("exit %d, want %d\n%s", code, exitPass, stderr)
	}
	v := decodeReport(t, stdout)
	if !v.Load.HTTP2 || v.Load.Streams != 4 {
		t.Errorf("load: http2 %v, streams %d; want true, 4", v.Load.HTTP2, v.Load.Streams)
	}
	if v.ByKind.Busy.Answered == 0 || v.Counts.Lost != 0 {
		t.Errorf("busy streams answered %d, lost %d; want some, 0", v.ByKind.Busy.Answered, v.Counts.Lost)
	}
}

// buildGo builds the Go command at dir (relative to this package; the
// workspace resolves other modules) into a temporary directory.
func buildGo(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	if out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// --grpc loads any gRPC server through its health service: drain's gRPC
// example passes (its Watch streams end with a status at the drain); a
// plain grpc-go server whose GracefulStop waits for its Watch streams is
// killed at the grace period and fails.
func TestGRPC(t *testing.T) {
	load := []string{"--json", "--grpc", "--busy", "4", "--streams", "4", "--watches", "2", "--silent", "2", "--warmup", "500ms", "--grace", "3s"}
	t.Run("draingrpc", func(t *testing.T) {
		bin := buildGo(t, "../../examples/grpc")
		code, stdout, stderr := probeRun(t, append(load, "--", bin, "-addr", "127.0.0.1:{port}")...)
		if code != exitPass {
			t.Fatalf("exit %d, want %d\n%s", code, exitPass, stderr)
		}
		v := decodeReport(t, stdout)
		if !v.Load.GRPC || v.ByKind.Busy.Answered == 0 || v.Streams.Watch.Open != 2 || v.Streams.Watch.ClosedCleanly != 2 {
			t.Errorf("grpc %v, busy answered %d, watch streams %+v; want true, some, 2 open and 2 ended cleanly", v.Load.GRPC, v.ByKind.Busy.Answered, v.Streams.Watch)
		}
	})
	t.Run("grpc-go GracefulStop", func(t *testing.T) {
		bin := buildGo(t, "../../bench/servers/grpcplain")
		code, stdout, stderr := probeRun(t, append(load, "--", bin)...)
		if code != exitFail {
			t.Fatalf("exit %d, want %d\n%s", code, exitFail, stderr)
		}
		if got := reasons(decodeReport(t, stdout)); !slices.Contains(got, "killed") || !slices.Contains(got, "streams-cut") {
			t.Errorf("reasons %v, want killed and streams-cut", got)
		}
	})
}

// --http2 against a server that speaks HTTP/1 only is "could not run",
// saying so, rather than a failure of every stream.
func TestHTTP2NotSpoken(t *testing.T) {
	code, stdout, stderr := probeRun(t, "--quiet", "--http2", "--busy", "2", "--slow", "0", "--idle", "0", "--silent", "0", "--warmup", "300ms", "--", server(t, "stdlib"))
	if code != exitUsage || !strings.Contains(stderr, "does not speak HTTP/2 without TLS") {
		t.Errorf("exit %d, want %d, saying the server does not speak HTTP/2\n%s%s", code, exitUsage, stdout, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"unknown signal", []string{"--signal", "SIGFOO"}, "unknown signal"},
		{"target and command", []string{"--target", "http://127.0.0.1:1", "--", "true"}, "not both"},
		{"pid without target", []string{"--pid", "1", "--", "true"}, "--pid needs --target"},
		{"duration with pid", []string{"--target", "http://127.0.0.1:1", "--pid", "1", "--duration", "1s"}, "--duration needs"},
		{"bad method", []string{"--busy-method", "PATCH"}, "--busy-method \"PATCH\""},
		{"negative count", []string{"--idle", "-1"}, "--idle -1"},
		{"no load", []string{"--busy", "0", "--slow", "0", "--idle", "0", "--silent", "0", "--ws", "0", "--sse", "0"}, "no load"},
		{"grpc without a server", []string{"--grpc"}, "--grpc needs the command of a gRPC server"},
		{"grpc with idle connections", []string{"--grpc", "--idle", "2", "--", "true"}, "GRPC with"},
		{"watches without grpc", []string{"--watches", "2", "--", "true"}, "Watches count without GRPC"},
		{"negative streams", []string{"--http2", "--streams", "-1"}, "--streams -1"},
		{"negative warmup", []string{"--warmup", "-1s"}, "--warmup -1s"},
		{"negative grace", []string{"--grace", "-5s"}, "--grace -5s"},
		{"negative max exit lag", []string{"--max-exit-lag", "-1ms"}, "--max-exit-lag -1ms"},
		{"target that does not parse", []string{"--target", "http://[::1", "--pid", "1"}, "target"},
		{"target not http", []string{"--target", "ftp://127.0.0.1:21", "--pid", "1"}, "only http://"},
		{"signal group with target", []string{"--target", "http://127.0.0.1:1", "--pid", "1", "--signal-group"}, "--signal-group"},
		{"html not writable", []string{"--html", "/nonexistent-dir/r.html"}, "--html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := probeRun(t, tc.args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
	if code, _, _ := probeRun(t, "--help"); code != exitPass {
		t.Errorf("--help: exit %d", code)
	}
}

// A server that cannot be probed is a clear error, exit status 2, with
// its own output.
func TestStartFailures(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"no such command", []string{"--", "/nonexistent/server"}, []string{"no such file"}},
		{"exits at once", []string{"--", "sh", "-c", "echo starting; exit 3"}, []string{"exited", "starting"}},
		{"never listens", []string{"--start-timeout", "500ms", "--", "sleep", "30"}, []string{"not listening", "$PORT"}},
		// The demo server told to listen on a port already in use.
		{"port in use", []string{"--", "env", seedEnv + "=1", exe, "-addr", taken.Addr().String()}, []string{"exited", "address already in use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := probeRun(t, tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// mkdirTemp makes a directory for the test servers, removed when the
// tests end (see TestMain).
func mkdirTemp() (string, error) { return os.MkdirTemp("", "drainprobe-servers-") }

// --target probes a service the probe did not start: with --pid it
// signals that process and watches it exit.
func TestTargetWithPID(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(exe, "-addr", addr)
	srv.Env = append(os.Environ(), seedEnv+"=1")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = srv.Wait(); close(exited) }()
	defer func() { srv.Process.Kill(); <-exited }()

	code, stdout, stderr := probeRun(t, "--json", "--target", "http://"+addr, "--pid", fmt.Sprint(srv.Process.Pid), "--busy", "4", "--slow", "1", "--silent", "3", "--idle", "2", "--warmup", "500ms", "--slow-path", "/slow?ms=800")
	if code != exitPass {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	v := decodeReport(t, stdout)
	if v.Counts.Lost != 0 || v.Slow.Completed != 1 || v.Times.Exit == nil {
		t.Errorf("lost %d, slow %d, exit at %v", v.Counts.Lost, v.Slow.Completed, v.Times.Exit)
	}
	<-exited
	if waitErr != nil {
		t.Errorf("the service exited with %v", waitErr)
	}
}

// Ctrl+C of drainprobe itself stops the server and reaps it.
func TestInterruptReapsServer(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"--quiet", "--warmup", "1m", "--", "sh", "-c", `echo $$ > ` + pidFile + `; exec env ` + seedEnv + `=1 ` + exe + ` -addr 127.0.0.1:{port}`}, io.Discard, &stderr)
	}()
	var pid int
	waitUntil(t, "the server's pid", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err == nil
	})
	cancel()
	if code := <-done; code != exitUsage || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr %q; want %d, interrupted", code, stderr.String(), exitUsage)
	}
	// Reaped: not even a zombie is left, so signal 0 fails.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the server (pid %d) is still there after the probe returned: %v", pid, err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Target mode without a PID loads a running service for a while and sends
// no signal: the table has one column, and the verdict warns that nothing
// was stopped.
func TestTargetDuration(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	defer srv.Close()
	code, stdout, stderr := probeRun(t, "--quiet", "--target", srv.URL, "--duration", "500ms",
		"--busy", "2", "--slow", "0", "--idle", "1", "--silent", "0")
	if code != exitPass {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitPass, stdout, stderr)
	}
	for _, want := range []string{"during the run", "answered 2xx", "1 open at the start", "warning:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "after it") {
		t.Errorf("a run without a signal shows an after-the-signal column:\n%s", stdout)
	}
}
