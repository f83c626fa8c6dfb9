// Command daemon is a drainprobe test server that daemonizes, as many
// servers do unless told to stay in the foreground: it starts itself again
// in a session of its own (setsid), its standard streams detached, says
// so and exits 0 at once. The copy serves as testdata/servers/good does.
//
// drainprobe did not start the copy and cannot judge its shutdown: it must
// stop with exit status 2, say that the command daemonized, name the
// daemon's PID and how to probe it instead (--target, --pid), print the
// command's output once, and leave no process running.
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

// daemonEnv marks the copy that serves.
const daemonEnv = "DAEMON_SERVING"

func main() {
	if os.Getenv(daemonEnv) == "" {
		os.Exit(daemonize())
	}
	var g drain.Group
	g.Add(&drain.HTTP{Server: routes.Server()})
	os.Exit(drain.ExitCode(g.Run(context.Background())))
}

// daemonize starts the serving copy in the background and returns at
// once, as a daemon's parent does.
func daemonize() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		return 1
	}
	cmd := &exec.Cmd{
		Path: exe,
		Args: os.Args, // the same command line, as ps shows it
		Env:  append(os.Environ(), daemonEnv+"=1"),
		// Stdin, Stdout and Stderr nil: /dev/null.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "daemon:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "daemon: serving in the background as process %d\n", cmd.Process.Pid)
	return 0
}
