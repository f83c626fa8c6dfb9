package drainprom_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/drainprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A server that serves its own metrics, scraped while it serves: the
// scrape is the request in flight.
func Example() {
	var g drain.Group
	g.Signals = []os.Signal{} // for the example: stop when ctx ends
	g.Logger = slog.New(slog.DiscardHandler)

	reg := prometheus.NewRegistry()
	reg.MustRegister(drainprom.NewCollector(&g))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	g.Add(&drain.HTTP{Name: "web", Listener: ln, Server: &http.Server{Handler: mux}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-g.Happened(drain.Serving)

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		fmt.Println(err)
	} else {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "drain_phase") || strings.HasPrefix(line, "drain_requests_in_flight") {
				fmt.Println(line)
			}
		}
		resp.Body.Close()
		http.DefaultClient.CloseIdleConnections()
	}

	stop()
	fmt.Println("Run:", <-done)
	// Output:
	// drain_phase{phase="cleanup-done"} 0
	// drain_phase{phase="delay-elapsed"} 0
	// drain_phase{phase="drained"} 0
	// drain_phase{phase="serving"} 1
	// drain_phase{phase="shutdown-initiated"} 0
	// drain_phase{phase="starting"} 0
	// drain_phase{phase="stopped-accepting"} 0
	// drain_requests_in_flight{server="web"} 1
	// Run: <nil>
}
