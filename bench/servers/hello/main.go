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

	"github.com/drain-go/drain"
)

func main() {
	mode := flag.String("mode", "drain", "bare or drain")
	flag.Parse()
	addr := ":" + os.Getenv("PORT")
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Hello, World!\n")
	})
	srv := &http.Server{Addr: addr, Handler: mux}
	switch *mode {
	case "bare":
		fmt.Fprintln(os.Stderr, srv.ListenAndServe())
		os.Exit(1)
	case "drain":
		g := drain.Group{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
		g.Add(&drain.HTTP{Server: srv})
		os.Exit(drain.ExitCode(g.Run(context.Background())))
	default:
		fmt.Fprintf(os.Stderr, "unknown -mode %q\n", *mode)
		os.Exit(2)
	}
}
