package probe_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/drain-go/drain/internal/probe"
	"github.com/drain-go/drain/internal/probe/report"
)

// Run a server, keep two slow requests in flight at SIGTERM, and see what
// it made of them. Here os.Args[0] runs this test binary as a small server
// that shuts down with net/http's Shutdown (see TestMain); give the probe
// your server's command instead.
func ExampleRun() {
	rep, err := probe.Run(context.Background(), probe.Config{
		Server: probe.Command{
			Args: []string{os.Args[0]},
			Env:  []string{"PROBE_TEST_CHILD=graceful"},
		},
		Load:   probe.Load{Slow: 2, SlowPath: "/slow?ms=1000"},
		Warmup: 300 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("slow requests completed: %d of %d\n", rep.SlowCompleted(), rep.Load.Slow)
	fmt.Printf("lost: %d\n", rep.Total().Lost)
	fmt.Printf("exit code: %v\n", rep.Exit)
	// Output:
	// slow requests completed: 2 of 2
	// lost: 0
	// exit code: 0
}

// Probe a server that runs already, without signalling it: in target mode
// without a PID the load runs for Duration while someone else stops the
// server (here, nobody does), and the verdict warns that no signal was
// sent.
func ExampleRun_target() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	}))
	defer srv.Close()

	rep, err := probe.Run(context.Background(), probe.Config{
		Target:   srv.URL,
		Load:     probe.Load{Busy: 2, BusyPath: "/"},
		Duration: 200 * time.Millisecond,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	v := rep.Verdict
	fmt.Println("pass:", v.Pass)
	for _, w := range v.Warnings {
		if w.Code == report.CodeNoSignal { // a busy machine may add probe-lag
			fmt.Println("warning:", w.Code)
		}
	}
	fmt.Println("lost:", rep.Total().Lost)
	// Output:
	// pass: true
	// warning: no-signal
	// lost: 0
}
