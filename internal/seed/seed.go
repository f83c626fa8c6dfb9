// Package seed is the server of the Express graceful-shutdown article,
// rebuilt on drain: it answers GET / after a delay, and on SIGTERM or
// SIGINT it stops accepting, lets the requests in flight finish, closes
// its database stand-in and exits 0, or 1 if the shutdown outlasts its
// bound. The command examples/seed runs it, and drainprobe runs it when
// given no command to probe.
//
// Routes:
//
//	GET /            answers after -delay (5s, like the article)
//	GET /fast        answers at once
//	GET /slow?ms=N   answers after N milliseconds
//	GET /events      server-sent events, a tick a second; says goodbye
//	                 ("event: bye") and ends when the server drains
//	GET /ws          a WebSocket that echoes, and closes with 1001 (going
//	                 away) when the server drains
//	GET /livez       200 while the server accepts connections, shutdown delay included
//	GET /readyz      200 while serving; 503 from the signal on
//	GET /metrics     Prometheus metrics of the shutdown
//
// With -shutdown-delay D it keeps serving for D after the signal, with
// /readyz failing and every response saying "Connection: close", before it
// drains; with -retry-after it answers new requests 503 with Retry-After
// while the requests in flight drain. -timeout bounds the whole shutdown,
// delay included.
//
// A request to / or /slow still running when the shutdown is forced has
// its context cancelled and is answered 503; the streams just end.
package seed

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/drain-go/drain"
	"github.com/drain-go/drain/drainprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options are the seed server's settings, from its command line.
type Options struct {
	Addr          string        // -addr: where to listen; :$PORT, else :3000
	Delay         time.Duration // -delay: how long GET / takes to answer; 5s
	Timeout       time.Duration // -timeout: the bound on the whole shutdown, delay included; 10s
	ShutdownDelay time.Duration // -shutdown-delay: how long to keep serving after the signal; 0
	RetryAfter    bool          // -retry-after: answer new requests 503 while draining
	H2C           bool          // -h2c: serve HTTP/2 without TLS too (prior knowledge)
	PIDFile       string        // -pidfile: keep the serving process's PID there, across upgrades; $PIDFILE
	FDStore       bool          // -fdstore: keep the listening socket in systemd's file descriptor store
	Foreground    bool          // -foreground: stay, after an upgrade, until the last generation exits (runit, supervisord)
}

// ParseArgs parses the seed server's command line. Errors and -help go to
// stderr.
func ParseArgs(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Addr, "addr", defaultAddr(), "address to listen on")
	fs.DurationVar(&o.Delay, "delay", 5*time.Second, "how long GET / takes to answer")
	fs.DurationVar(&o.Timeout, "timeout", drain.DefaultTimeout, "bound on the shutdown, shutdown delay included; past it, it is forced and the exit code is 1")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "after the signal, keep serving this long with /readyz failing, so that load balancers stop sending traffic first")
	fs.BoolVar(&o.RetryAfter, "retry-after", false, "while draining, keep listening and answer new requests 503 with Retry-After")
	fs.BoolVar(&o.H2C, "h2c", false, "serve HTTP/2 without TLS too, to clients with prior knowledge (drainprobe --http2)")
	fs.StringVar(&o.PIDFile, "pidfile", os.Getenv("PIDFILE"), "keep the PID of the serving process in this file, across upgrades (SIGHUP)")
	fs.BoolVar(&o.FDStore, "fdstore", false, "under systemd, keep the listening socket in its file descriptor store, so that a restart refuses nothing")
	fs.BoolVar(&o.Foreground, "foreground", false, "under a supervisor that watches this process (runit, supervisord), stay after an upgrade, passing on signals, until the last generation exits")
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return o, nil
}

// Run runs the seed server with the command-line arguments args (see
// [ParseArgs]), logging to stderr, until a signal stops it, and returns
// the exit code: 0 for a clean drain, 1 otherwise, 2 for bad arguments.
func Run(args []string, stderr io.Writer) int {
	o, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "seed: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		answerAfter(w, r, o.Delay, "Hello from drain!\n")
	})
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "fast\n")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "ms must be a number of milliseconds", http.StatusBadRequest)
			return
		}
		answerAfter(w, r, time.Duration(ms)*time.Millisecond, "slow\n")
	})
	mux.HandleFunc("GET /events", events)
	mux.HandleFunc("GET /ws", echo)

	// SIGHUP replaces the process by the binary installed at its path,
	// with the listening socket inherited; systemd's socket, if it passed
	// one named "http", is used rather than a new one.
	up := &drain.Upgrader{PIDFile: o.PIDFile, FDStore: o.FDStore, Foreground: o.Foreground}
	ln, err := up.Listen("http", "tcp", o.Addr)
	if err != nil {
		log.Error("seed: cannot listen", "err", err)
		return 1
	}
	db := openDatabase(log)
	g := &drain.Group{Timeout: o.Timeout, ShutdownDelay: o.ShutdownDelay, Logger: log, Upgrader: up}
	g.Health().AddCheck("database", db.Ping)
	g.Health().Mount(mux)
	reg := prometheus.NewRegistry()
	reg.MustRegister(drainprom.NewCollector(g), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	h := &drain.HTTP{Server: &http.Server{
		Addr:              o.Addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}, Listener: ln}
	if o.RetryAfter {
		h.RetryAfter = &drain.RetryAfter{}
	}
	if o.H2C {
		h.Server.Protocols = new(http.Protocols)
		h.Server.Protocols.SetHTTP1(true)
		h.Server.Protocols.SetUnencryptedHTTP2(true)
	}
	g.Add(h)
	g.Cleanup("database", db.Close)
	return drain.ExitCode(g.Run(context.Background()))
}

// answerAfter answers body after d, or 503 if the request's context ends
// first (the client went away, or the shutdown was forced).
func answerAfter(w http.ResponseWriter, r *http.Request, d time.Duration, body string) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		io.WriteString(w, body)
	case <-r.Context().Done():
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	}
}

// events streams server-sent events until the client goes away or the
// server drains, and then says goodbye, so that the client reconnects to
// another instance rather than seeing its stream cut.
func events(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for n := 1; ; n++ {
		fmt.Fprintf(w, "data: tick %d\n\n", n)
		if rc.Flush() != nil {
			return
		}
		select {
		case <-tick.C:
		case <-drain.Draining(r.Context()):
			io.WriteString(w, "event: bye\ndata: server restarting\n\n")
			return
		case <-r.Context().Done():
			return
		}
	}
}

// echo serves a WebSocket that echoes what it receives, and closes it with
// status 1001 (going away) when the server drains.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the client
	}
	msgs := make(chan []byte)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	var reader sync.WaitGroup
	defer reader.Wait()
	defer c.CloseNow() // ends the reader's Read
	defer close(stop)
	reader.Go(func() {
		for {
			_, msg, err := c.Read(context.Background())
			if err != nil {
				readErr <- err
				return
			}
			select {
			case msgs <- msg:
			case <-stop:
				return
			}
		}
	})
	for {
		select {
		case msg := <-msgs:
			if err := c.Write(r.Context(), websocket.MessageText, msg); err != nil {
				return
			}
		case <-readErr:
			return
		case <-drain.Draining(r.Context()):
			c.Close(websocket.StatusGoingAway, "server restarting")
			return
		case <-r.Context().Done():
			return
		}
	}
}

func defaultAddr() string {
	if port := os.Getenv("PORT"); port != "" {
		return ":" + port
	}
	return ":3000"
}

// database stands in for a connection pool that must be closed on the way
// out.
type database struct{ log *slog.Logger }

func openDatabase(log *slog.Logger) *database {
	log.Info("database: connected")
	return &database{log: log}
}

// Ping is the database's readiness check.
func (db *database) Ping(ctx context.Context) error { return ctx.Err() }

func (db *database) Close(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("database: no time left to close: %w", err)
	}
	db.log.Info("database: connections closed")
	return nil
}
