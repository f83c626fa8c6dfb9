package drain_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/drain-go/drain"
)

// A service with one HTTP server and a database to close, stopped by
// Ctrl+C (here, the process sends SIGINT to itself).
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0") // or set Server.Addr
	if err != nil {
		panic(err)
	}

	var g drain.Group
	g.Logger = slog.New(slog.DiscardHandler) // keep the example's output short
	g.Add(&drain.HTTP{Server: &http.Server{Handler: mux}, Listener: ln})
	g.Cleanup("database", func(ctx context.Context) error {
		fmt.Println("database closed")
		return nil
	})

	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Print(string(body))
		p, _ := os.FindProcess(os.Getpid())
		p.Signal(os.Interrupt)
	}()

	err = g.Run(context.Background())
	fmt.Println("exit code:", drain.ExitCode(err))
	// Output:
	// hello
	// database closed
	// exit code: 0
}

// A server-sent events handler ends its stream cleanly when the server
// begins to drain.
func ExampleDraining() {
	mux := http.NewServeMux()
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				io.WriteString(w, "data: tick\n\n")
				http.NewResponseController(w).Flush()
			case <-drain.Draining(r.Context()):
				io.WriteString(w, "event: bye\ndata: server restarting\n\n")
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	g := drain.Group{Logger: slog.New(slog.DiscardHandler)}
	g.Add(&drain.HTTP{Server: &http.Server{Handler: mux}, Listener: ln})

	read := make(chan struct{})
	go func() {
		defer close(read)
		resp, err := http.Get("http://" + ln.Addr().String() + "/events")
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		events := bufio.NewScanner(resp.Body)
		events.Scan()
		fmt.Println(events.Text())
		stop() // begin the shutdown, as a signal would
		for events.Scan() {
			if line := events.Text(); strings.HasPrefix(line, "event:") || strings.Contains(line, "restarting") {
				fmt.Println(line)
			}
		}
	}()
	err = g.Run(ctx)
	<-read
	fmt.Println("exit code:", drain.ExitCode(err))
	// Output:
	// data: tick
	// event: bye
	// data: server restarting
	// exit code: 0
}

// Behind a load balancer: readiness fails as soon as the shutdown begins,
// and the server serves on for the shutdown delay, telling clients to
// close, before it drains. Code can wait for each step.
func ExampleGroup_Health() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	base := "http://" + ln.Addr().String()

	g := &drain.Group{
		ShutdownDelay: time.Second,      // longer than the balancer takes to notice
		Timeout:       10 * time.Second, // covers the delay and the drain
		Logger:        slog.New(slog.DiscardHandler),
	}
	g.Health().AddCheck("cache", func(ctx context.Context) error { return nil })
	g.Health().Mount(mux) // GET /livez, /readyz
	g.Add(&drain.HTTP{Server: &http.Server{Handler: mux}, Listener: ln})

	get := func(path string) {
		resp, err := http.Get(base + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %s", path, resp.StatusCode, body)
	}
	ctx, stop := context.WithCancel(context.Background())
	go func() {
		<-g.Happened(drain.Serving)
		get("/readyz")
		stop() // as a signal would
		<-g.Happened(drain.ShutdownInitiated)
		get("/readyz?verbose")
		get("/") // still served during the delay, with Connection: close
	}()
	err = g.Run(ctx)
	fmt.Println("delay served:", g.When(drain.DelayElapsed).Sub(g.When(drain.ShutdownInitiated)) >= time.Second)
	fmt.Println("exit code:", drain.ExitCode(err))
	// Output:
	// /readyz: 200 ok
	// /readyz?verbose: 503 [-]shutdown failed: shutting down
	// readyz check failed
	// /: 200 hello
	// delay served: true
	// exit code: 0
}
