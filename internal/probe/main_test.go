package probe

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// childEnv makes the test binary run as a small server instead of the
// tests, so that the tests can start real child processes.
const childEnv = "PROBE_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// childCommand returns a Command that runs the test binary as a child
// server in the given mode (see runChild).
func childCommand(mode string, args ...string) Command {
	return Command{
		Args:          append([]string{os.Args[0]}, args...),
		Env:           []string{childEnv + "=" + mode},
		ListenTimeout: 30 * time.Second, // the race detector starts slowly
	}
}

// runChild is the child's main. Modes:
//
//	exit3      prints a line and exits 3 without listening
//	deaf       never listens; sleeps until killed
//	graceful   serves /fast and /slow?ms=N; on SIGTERM, net/http's
//	           Shutdown, exit 0
//	stubborn   serves, ignoring SIGTERM
//	exit-soon  serves for 200ms, then exits 4
//
// The port is PORT, or the -port=N argument if given. The child prints its
// arguments and PORT on stdout.
func runChild(mode string, args []string) int {
	fmt.Printf("child: args=%q PORT=%s\n", args, os.Getenv("PORT"))
	switch mode {
	case "exit3":
		fmt.Fprintln(os.Stderr, "child: failing on purpose")
		return 3
	case "deaf":
		time.Sleep(time.Minute)
		return 0
	}
	port := os.Getenv("PORT")
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, "-port="); ok {
			port = p
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fast\n") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		io.WriteString(w, "slow\n")
	})
	srv := &http.Server{Handler: mux}
	switch mode {
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		srv.Serve(ln)
		return 0
	case "exit-soon":
		go srv.Serve(ln)
		time.Sleep(200 * time.Millisecond)
		return 4
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go srv.Serve(ln)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return 1
	}
	return 0
}
