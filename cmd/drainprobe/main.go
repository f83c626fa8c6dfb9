// Command drainprobe tells whether a server loses requests when it is
// stopped the way deployments stop it. It starts the server, loads it as
// real clients do (busy keep-alive clients, slow requests, idle
// connections, connected-but-silent sockets, WebSockets, event streams),
// sends it SIGTERM, keeps the load going until the process exits, and
// reports what became of every request, with a verdict: PASS, or FAIL
// with each reason. It works on servers written in any language.
//
//	drainprobe                       # probes drain's own demo server (examples/seed)
//	drainprobe -- ./server --port {port}
//	drainprobe --slow-path /report --busy-method POST -- node app.js
//	drainprobe --target http://127.0.0.1:8080 --pid 4242
//	drainprobe --http2 -- ./server                # h2c streams
//	drainprobe --grpc -- ./grpcserver             # through grpc.health.v1
//	drainprobe --upgrades 3 --pidfile /tmp/s.pid -- ./server   # SIGHUP upgrades, then SIGTERM
//
// The server is started with PORT set to a free port, and "{port}" in its
// arguments replaced by it. Exit status: 0 PASS, 1 FAIL, 2 when the probe
// could not run (bad flags, a server that does not start or listen, exits
// before the signal or daemonizes, an overloaded run, a server starved by
// the quiet connections), so that drainprobe can guard a CI pipeline.
//
// --json prints the report as JSON instead; --html FILE writes a page with
// the timeline of the requests.
//
// --upgrades N checks zero-downtime upgrades instead of the shutdown alone:
// the load runs through N --upgrade-signal (SIGHUP) signals, --upgrade-interval
// apart, each sent to the process the --pidfile names; each must change the
// PID and the old process must exit 0, with nothing refused or lost and the
// slow requests in flight answered; then the last process gets --signal and
// its shutdown is probed as usual.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/drain-go/drain/internal/probe"
	"github.com/drain-go/drain/internal/probe/proc"
	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/seed"
)

// seedEnv asks the drainprobe binary to run the seed demo server instead:
// that is how drainprobe probes drain without another binary.
const seedEnv = "DRAINPROBE_RUN_SEED"

func main() {
	if os.Getenv(seedEnv) != "" {
		os.Exit(seed.Run(os.Args[1:], os.Stderr))
	}
	// So that a server that daemonizes stays drainprobe's descendant, and
	// is reaped when killed. Linux only; elsewhere the probe does without.
	probe.BecomeSubreaper()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitPass  = 0
	exitFail  = 1
	exitUsage = 2 // bad flags, or the probe could not run
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintf(stderr, "drainprobe: %v\n", err)
		return exitUsage
	}
	if opts.tmpDir != "" {
		defer os.RemoveAll(opts.tmpDir)
	}
	var progress *progressLine
	if opts.progress && isTerminal(stderr) {
		progress = newProgressLine(stderr)
		opts.cfg.Progress = progress.update
	}

	rep, err := probe.Run(ctx, opts.cfg)
	if progress != nil {
		progress.clear()
	}
	if err != nil {
		fmt.Fprintf(stderr, "drainprobe: %s\n", explain(err, opts))
		// The output is in the report, or in the error if there is none
		// (in its message, or a DaemonError's field): never in both.
		var output string
		var de *probe.DaemonError
		switch {
		case errors.As(err, &de):
			output = de.Output
		case rep != nil:
			output = rep.Output
		}
		if strings.TrimSpace(output) != "" {
			fmt.Fprintf(stderr, "the server's last output:\n%s\n", indent(output))
		}
		return exitUsage
	}
	verdict := rep.Verdict
	// Text, JSON and the page render the same report.
	if opts.json {
		raw, err := json.Marshal(rep)
		if err != nil {
			fmt.Fprintf(stderr, "drainprobe: %v\n", err)
			return exitUsage
		}
		stdout.Write(raw)
		fmt.Fprintln(stdout)
	} else {
		rep.WriteText(stdout, opts.label)
	}
	if opts.html != "" {
		if err := writeHTMLFile(opts.html, rep, opts.label); err != nil {
			fmt.Fprintf(stderr, "drainprobe: %v\n", err)
			return exitUsage
		}
		if !opts.json {
			fmt.Fprintf(stdout, "report: %s\n", opts.html)
		}
	}
	switch {
	case warned(verdict, report.CodeOverloaded):
		// A run that measured the load rather than the shutdown judges
		// nothing, pass or fail.
		fmt.Fprintln(stderr, "drainprobe: could not run: the load was more than the server or this machine could take (see the warnings); use fewer clients and run again")
		return exitUsage
	case warned(verdict, report.CodeUntested):
		// A run that tested nothing judges nothing: neither a pass that
		// would guard a pipeline, nor a failure the server may not
		// deserve.
		fmt.Fprintln(stderr, "drainprobe: could not run: the load did not test what it was meant to (see the warnings); fix the paths or the load and run again")
		return exitUsage
	case !verdict.Pass:
		return exitFail
	}
	return exitPass
}

// warned reports whether the verdict has a warning of this code.
func warned(v report.Verdict, code string) bool {
	return slices.ContainsFunc(v.Warnings, func(w report.Finding) bool { return w.Code == code })
}

func writeHTMLFile(name string, rep *report.Report, label string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f, label); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return f.Close()
}

// explain says why a probe could not run, and what to check, in the
// terms of the command line.
func explain(err error, o *options) string {
	msg := strings.TrimPrefix(err.Error(), "probe: ")
	target := o.cfg.Target != ""
	var de *probe.DaemonError
	switch {
	case errors.Is(err, context.Canceled):
		if target {
			return "interrupted"
		}
		return "interrupted; the server was stopped"
	case errors.Is(err, probe.ErrNotListening) && target:
		return msg + " (is the service running at --target?)"
	case errors.Is(err, probe.ErrNotListening):
		return msg + " (does the server listen on $PORT, or on {port} in its arguments?)"
	case errors.As(err, &de):
		return msg + "; run it in the foreground (most servers have a flag for it: --foreground, -D FOREGROUND, daemon off), or start it yourself and use --target http://127.0.0.1:PORT --pid PID"
	case errors.Is(err, probe.ErrExited) && target:
		return msg + " (is --pid the service's process?)"
	case errors.Is(err, probe.ErrExited):
		return msg + " (is the port in use, or a flag wrong?)"
	}
	return msg
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

// options are what the command line asks for.
type options struct {
	cfg      probe.Config
	tmpDir   string // made for the run (the demo's PID file), removed after it
	label    string // names the server, when its command line does not
	json     bool
	html     string
	progress bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("drainprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: drainprobe [flags] [-- command args...]

Starts the command with PORT set to a free port ({port} in its arguments is
replaced by it), loads it, sends it a signal and reports whether it lost
requests. With no command, probes drain's own demo server. Exit status: 0
PASS, 1 FAIL, 2 when the probe could not run.

With --upgrades N, the server is first upgraded N times under the load:
--upgrade-signal goes to the process --pidfile names, and each upgrade must
change the PID, the old process exit 0, and nothing be refused or lost;
then --signal stops the last process and its shutdown is judged as usual.

flags:
`)
		fs.PrintDefaults()
	}
	o := &options{}
	l := &o.cfg.Load
	fs.IntVar(&l.Busy, "busy", 16, "busy keep-alive clients, sending requests back to back")
	fs.IntVar(&l.Conns, "conns", 0, "clients sending the busy path back to back, each request on a new connection (default 4 with --upgrades)")
	fs.StringVar(&l.BusyPath, "busy-path", probe.DefaultBusyPath, "what the busy clients request: a fast path")
	fs.StringVar(&l.BusyMethod, "busy-method", probe.DefaultMethod, "GET or POST")
	fs.IntVar(&l.Slow, "slow", 3, "slow requests in flight at the signal, each on its own connection")
	fs.StringVar(&l.SlowPath, "slow-path", probe.DefaultSlowPath, "what the slow requests ask for: longer than the warm-up")
	fs.StringVar(&l.SlowMethod, "slow-method", probe.DefaultMethod, "GET or POST")
	fs.BoolVar(&l.HTTP2, "http2", false, "send the busy and slow requests over HTTP/2 without TLS (h2c, prior knowledge), each a stream; the rest stays HTTP/1")
	fs.IntVar(&l.Streams, "streams", probe.DefaultStreams, "with --http2 or --grpc: the streams each busy client keeps in flight on its connection")
	fs.BoolVar(&l.TLS, "tls", false, "with --http2 or --grpc: speak TLS (ALPN h2), not verifying the server's certificate; --target https://... implies it")
	fs.BoolVar(&l.GRPC, "grpc", false, "load a gRPC server through its health service (grpc.health.v1): busy clients call Check over h2c, --watches Watch streams stay open; --slow and --idle default to 0")
	fs.StringVar(&l.GRPCService, "grpc-service", "", "with --grpc: the service Check and Watch name (default: the server as a whole)")
	fs.IntVar(&l.Watches, "watches", 2, "with --grpc: health Watch streams kept open")
	fs.IntVar(&l.Idle, "idle", 10, "idle keep-alive connections (one request each, then quiet)")
	fs.StringVar(&l.IdlePath, "idle-path", probe.DefaultIdlePath, "what the idle connections request first")
	fs.IntVar(&l.Silent, "silent", 20, "connected-but-silent sockets, as browsers preconnect")
	fs.IntVar(&l.WebSockets, "ws", 0, "WebSocket streams kept open (2 for the demo server)")
	fs.StringVar(&l.WebSocketPath, "ws-path", probe.DefaultWebSocketPath, "where the WebSockets connect")
	fs.IntVar(&l.SSE, "sse", 0, "server-sent-event streams kept open (2 for the demo server)")
	fs.StringVar(&l.SSEPath, "sse-path", probe.DefaultSSEPath, "where the event streams connect")
	fs.DurationVar(&o.cfg.Warmup, "warmup", 1800*time.Millisecond, "how long the load runs before the signal")
	sig := fs.String("signal", "SIGTERM", "the signal to send, by name (SIGTERM, INT, sigwinch) or number (15)")
	fs.BoolVar(&o.cfg.SignalGroup, "signal-group", false, "send the signal to the server's process group (the command and what it started), as Ctrl+C in a terminal does")
	fs.DurationVar(&o.cfg.KillAfter, "grace", probe.DefaultKillAfter, "SIGKILL the server if it has not exited this long after the signal; 30s is Kubernetes' default")
	fs.DurationVar(&l.RequestTimeout, "request-timeout", 0, "a request not answered this long after it was sent is lost (default: warm-up + grace + 10s)")
	ready := fs.String("ready-path", "", "wait until GET of this path answers 2xx, instead of until the port accepts connections")
	startTimeout := fs.Duration("start-timeout", probe.DefaultListenTimeout, "how long the server may take to start listening (or to be ready)")
	fs.StringVar(&o.cfg.Target, "target", "", "probe a service already running at this URL instead of starting one")
	fs.IntVar(&o.cfg.PID, "pid", 0, "with --target: the process to signal after the warm-up, and to watch exit")
	fs.DurationVar(&o.cfg.Duration, "duration", 0, "with --target and no --pid: how long to run, while you stop the service yourself")
	u := &o.cfg.Upgrades
	fs.IntVar(&u.Count, "upgrades", 0, "upgrade the server this many times under the load before the shutdown signal (0: probe its shutdown only)")
	upSig := fs.String("upgrade-signal", "SIGHUP", "with --upgrades: the signal that asks the server to upgrade itself, by name or number")
	fs.DurationVar(&u.Interval, "upgrade-interval", probe.DefaultUpgradeInterval, "with --upgrades: the time between upgrade signals (the first after --warmup), and from the last to --signal")
	fs.DurationVar(&u.Timeout, "upgrade-timeout", probe.DefaultUpgradeTimeout, "with --upgrades: how long the PID may take to change after an upgrade signal, and an old process to exit")
	fs.StringVar(&u.PIDFile, "pidfile", "", "with --upgrades: the file where the server keeps the PID of the process that serves (required, but for the demo server); PIDFILE is set to it in the server's environment")
	fs.BoolVar(&o.cfg.HoldQuiet, "hold-quiet", false, "keep the idle connections and silent sockets open until the server exits, as clients that never give up, rather than close them after --max-exit-lag to see whether it waits for them")
	fs.DurationVar(&o.cfg.MaxExitLag, "max-exit-lag", report.DefaultMaxExitLag, "FAIL if the server exits longer than this after its last response")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.StringVar(&o.html, "html", "", "also write the report as a web page with the timeline, to this file")
	quiet := fs.Bool("quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.progress = !*quiet && !o.json

	s, err := proc.ParseSignal(*sig)
	if err != nil {
		return nil, fmt.Errorf("--signal: %w", err)
	}
	o.cfg.Signal = s
	set := flagsSet(fs)
	switch {
	case u.Count < 0:
		return nil, fmt.Errorf("--upgrades %d: want 0 or more", u.Count)
	case u.Count == 0:
		for _, f := range []string{"upgrade-signal", "upgrade-interval", "upgrade-timeout", "pidfile"} {
			if set[f] {
				return nil, fmt.Errorf("--%s needs --upgrades", f)
			}
		}
		u.Interval, u.Timeout = 0, 0
	default:
		if u.Signal, err = proc.ParseSignal(*upSig); err != nil {
			return nil, fmt.Errorf("--upgrade-signal: %w", err)
		}
		if u.Signal == s {
			return nil, fmt.Errorf("--upgrade-signal and --signal are both %s: one upgrades the server, the other stops it", proc.SignalName(s))
		}
		if o.cfg.SignalGroup {
			return nil, errors.New("--signal-group with --upgrades: the old processes, still draining, are in the group too")
		}
		if !set["conns"] {
			l.Conns = 4
		}
	}
	// A negative duration is a mistake, never a request for the default.
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"warmup", o.cfg.Warmup}, {"grace", o.cfg.KillAfter}, {"request-timeout", l.RequestTimeout},
		{"start-timeout", *startTimeout}, {"duration", o.cfg.Duration}, {"max-exit-lag", o.cfg.MaxExitLag},
		{"upgrade-interval", u.Interval}, {"upgrade-timeout", u.Timeout},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("--%s %v: want a positive duration", d.flag, d.v)
		}
	}
	if l.GRPC {
		// A gRPC server serves neither HTTP/1 nor the HTTP paths.
		for _, f := range []struct {
			name string
			n    *int
		}{{"slow", &l.Slow}, {"idle", &l.Idle}} {
			if !set[f.name] {
				*f.n = 0
			}
		}
	} else if !set["watches"] {
		l.Watches = 0
	}
	if l.Streams < 0 {
		return nil, fmt.Errorf("--streams %d: want 1 or more", l.Streams)
	}
	if err := checkLoad(l); err != nil {
		return nil, err
	}
	if o.cfg.SignalGroup && o.cfg.Target != "" {
		return nil, errors.New("--signal-group is for a command drainprobe starts (in a process group of its own), not --target")
	}
	if o.cfg.PID != 0 && o.cfg.Target == "" {
		return nil, errors.New("--pid needs --target")
	}
	if o.cfg.Duration != 0 && (o.cfg.Target == "" || o.cfg.PID != 0 || u.Count > 0) {
		return nil, errors.New("--duration needs --target and no --pid (nor --upgrades): it is for stopping the service yourself")
	}
	if o.html != "" {
		// Fail now, not after a run of many seconds.
		if err := checkWritable(o.html); err != nil {
			return nil, fmt.Errorf("--html: %w", err)
		}
	}
	if l.RequestTimeout == 0 {
		// A slow request may take up to the grace period to be answered:
		// it is lost only if it takes longer than the server may live.
		l.RequestTimeout = o.cfg.Warmup + o.cfg.KillAfter + 10*time.Second
	}
	command := fs.Args()
	switch {
	case o.cfg.Target != "" && len(command) > 0:
		return nil, errors.New("give either --target or a command, not both")
	case u.Count > 0 && u.PIDFile == "" && (o.cfg.Target != "" || len(command) > 0):
		return nil, errors.New("--upgrades needs --pidfile, the file where the server keeps the PID of the process that serves: it is how drainprobe finds the new process, and learns that it took over (PIDFILE is set to it in the server's environment)")
	case o.cfg.Target != "":
		o.cfg.Server = probe.Command{ReadyPath: *ready, ListenTimeout: *startTimeout}
	case len(command) > 0:
		o.cfg.Server = probe.Command{Args: command, ReadyPath: *ready, ListenTimeout: *startTimeout}
	case l.GRPC:
		return nil, errors.New("--grpc needs the command of a gRPC server (drain's is examples/grpc), or --target: the demo server speaks HTTP")
	default:
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the demo server: %w", err)
		}
		// The demo server has streams: show them too, unless told not to.
		if !set["ws"] {
			l.WebSockets = 2
		}
		if !set["sse"] {
			l.SSE = 2
		}
		args := []string{exe, "-addr", "127.0.0.1:{port}"}
		if l.HTTP2 {
			args = append(args, "-h2c")
		}
		o.cfg.Server = probe.Command{Args: args, Env: []string{seedEnv + "=1"}, ReadyPath: *ready, ListenTimeout: *startTimeout}
		o.label = "drain's demo server (examples/seed)"
		if u.Count > 0 && u.PIDFile == "" {
			// The demo keeps its PID in $PIDFILE, which the probe sets.
			if o.tmpDir, err = os.MkdirTemp("", "drainprobe-"); err != nil {
				return nil, fmt.Errorf("a directory for the demo's PID file: %w", err)
			}
			u.PIDFile = filepath.Join(o.tmpDir, "seed.pid")
		}
	}
	return o, nil
}

// flagsSet returns the names of the flags set on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// checkLoad refuses a load that cannot test anything, in the terms of
// the flags.
func checkLoad(l *probe.Load) error {
	counts := []struct {
		flag string
		n    int
	}{{"busy", l.Busy}, {"conns", l.Conns}, {"slow", l.Slow}, {"idle", l.Idle}, {"silent", l.Silent}, {"ws", l.WebSockets}, {"sse", l.SSE}, {"watches", l.Watches}}
	total := 0
	for _, c := range counts {
		if c.n < 0 {
			return fmt.Errorf("--%s %d: want 0 or more", c.flag, c.n)
		}
		total += c.n
	}
	if total == 0 {
		return errors.New("no load: every count (--busy, --slow, --idle, --silent, --ws, --sse, --watches) is 0")
	}
	for _, m := range []struct{ flag, method string }{{"busy-method", l.BusyMethod}, {"slow-method", l.SlowMethod}} {
		if m.method != "GET" && m.method != "POST" {
			return fmt.Errorf("--%s %q: want GET or POST", m.flag, m.method)
		}
	}
	return nil
}

// checkWritable reports whether a file can be written at name, without
// leaving one behind if there was none.
func checkWritable(name string) error {
	if _, err := os.Stat(name); err == nil {
		f, err := os.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		return f.Close()
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(name)
}

// isTerminal reports whether w is a terminal, where a progress line that
// rewrites itself makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
