// Command flipper is a drainprobe test server that upgrades itself on
// SIGHUP the way cloudflare/tableflip's documented pattern does, with the
// standard library only: it starts its own binary again with the
// listening socket as an extra file (os/exec's ExtraFiles), the new
// process takes it with net.FileListener, serves, writes its PID to
// $PIDFILE and says it is ready on a pipe; the old one then calls
// http.Server.Shutdown and exits 0. SIGTERM and SIGINT shut it down with
// Shutdown too.
//
// Flaw: Server.Shutdown closes every connection idle at the instant it
// looks, and a busy keep-alive client is idle between two of its
// requests: at each upgrade, as at the shutdown, each busy client loses
// the request it sends next on a connection just closed under it. Nothing
// is refused (the socket is inherited), the PID changes and the old
// process exits 0.
//
// Expected verdict: FAIL, with reason "lost" at each upgrade (about one
// request per busy keep-alive client), and none of "refused",
// "upgrade-pid" or "upgrade-exit".
//
// With FLIPPER_BROKEN=1 in its environment, the new process started at an
// upgrade exits 1 at once, as a broken release does: the old one logs it
// and serves on, and the PID never changes. Expected verdict: FAIL, with
// reason "upgrade-pid" at every upgrade, and nothing refused or lost.
//
// Routes and address: see package routes (GET /fast, GET /slow?ms=N,
// :$PORT or :3000).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

// inheritEnv marks a process started by an upgrade: the listening socket
// is its descriptor 3, the pipe to say it is ready on its descriptor 4.
const inheritEnv = "FLIPPER_INHERIT"

func main() {
	log.SetPrefix(fmt.Sprintf("flipper %d: ", os.Getpid()))
	os.Exit(run())
}

func run() int {
	var ln net.Listener
	var ready *os.File
	if os.Getenv(inheritEnv) != "" {
		os.Unsetenv(inheritEnv)
		if os.Getenv("FLIPPER_BROKEN") != "" {
			log.Print("the new release fails at start")
			return 1
		}
		var err error
		if ln, err = net.FileListener(os.NewFile(3, "listener")); err != nil {
			log.Printf("inherited listener: %v", err)
			return 1
		}
		ready = os.NewFile(4, "ready")
	} else {
		var err error
		if ln, err = net.Listen("tcp", routes.Addr()); err != nil {
			log.Print(err)
			return 1
		}
	}
	srv := routes.Server()
	go srv.Serve(ln)
	if path := os.Getenv("PIDFILE"); path != "" {
		if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Printf("PID file: %v", err)
			return 1
		}
	}
	if ready != nil {
		io.WriteString(ready, "ready\n")
		ready.Close()
	}
	log.Printf("serving on %s", ln.Addr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for sig := range sigs {
		if sig != syscall.SIGHUP {
			break
		}
		if err := upgrade(ln); err != nil {
			log.Printf("upgrade failed: %v; serving on", err)
			continue
		}
		break
	}
	signal.Stop(sigs)
	log.Print("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Printf("shutdown: %v", err)
		return 1
	}
	log.Print("shut down")
	return 0
}

// upgrade starts the binary again with the listening socket, and waits
// until the new process is ready.
func upgrade(ln net.Listener) error {
	lf, err := dup(ln.(*net.TCPListener))
	if err != nil {
		return err
	}
	defer lf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	exe, err := os.Executable()
	if err != nil {
		w.Close()
		return err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{lf, w}
	cmd.Env = append(os.Environ(), inheritEnv+"=1")
	err = cmd.Start()
	w.Close()
	if err != nil {
		return err
	}
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [6]byte
	if _, err := io.ReadFull(r, b[:]); err != nil || string(b[:]) != "ready\n" {
		cmd.Process.Kill()
		werr := cmd.Wait()
		return fmt.Errorf("the new process %d was not ready: %v", cmd.Process.Pid, errors.Join(err, werr))
	}
	log.Printf("the new process %d is ready", cmd.Process.Pid)
	cmd.Process.Release() // it outlives this one
	return nil
}

// dup returns a copy of the listener's descriptor that leaves it
// non-blocking, as tableflip does: the File method's copy, once os/exec
// calls its Fd, would make the listener blocking too.
func dup(ln *net.TCPListener) (*os.File, error) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "listener"), nil
}
