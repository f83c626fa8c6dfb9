// Command hello serves "Hello, World!" on :$PORT, either with a bare
// net/http server (-mode bare) or through drain (-mode drain), so that
// bench/throughput.sh can measure what drain costs on the request path.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/drain-go/drain"
)

func main() {
	mode := flag.String("mode", "drain", "bare or drain")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file until SIGTERM (drain mode) or the end")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	addr := ":" + os.Getenv("PORT")
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, World!\n")
	})
	srv := &http.Server{Addr: addr, Handler: mux}
	switch *mode {
	case "bare":
		// Stops on SIGTERM, only so that a CPU profile can be written.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		go func() { <-ctx.Done(); srv.Close() }()
		fmt.Fprintln(os.Stderr, srv.ListenAndServe())
	case "drain":
		g := drain.Group{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
		g.Add(&drain.HTTP{Server: srv})
		if err := g.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown -mode %q\n", *mode)
		os.Exit(2)
	}
}
