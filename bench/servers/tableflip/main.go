// Command tableflip is cloudflare/tableflip's documented pattern for a
// graceful upgrade of a net/http server (its http_example_test.go), as the
// upgrade benchmark compares drain with: SIGHUP calls Upgrader.Upgrade,
// which starts the binary installed at the same path with the listening
// socket inherited; once the new process calls Ready, the old one's Exit
// channel closes and it drains with Server.Shutdown, exiting 1 if that
// takes more than 30 seconds. The PID file names the serving process.
//
//	tableflip -addr 127.0.0.1:8080 -pidfile /tmp/tableflip.pid
//	kill -HUP $(cat /tmp/tableflip.pid)
//
// Routes:
//
//	GET /fast        answers "fast\n" at once
//	GET /slow?ms=N   answers "slow\n" after N milliseconds
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/drain-go/drain/bench/servers/internal/routes"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "address to listen on")
	pidFile := flag.String("pidfile", "", "path to the PID file")
	flag.Parse()
	log.SetPrefix(fmt.Sprintf("%d ", os.Getpid()))

	upg, err := tableflip.New(tableflip.Options{PIDFile: *pidFile})
	if err != nil {
		log.Fatalln("tableflip:", err)
	}
	defer upg.Stop()

	// Do an upgrade on SIGHUP.
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		for range sig {
			if err := upg.Upgrade(); err != nil {
				log.Println("upgrade failed:", err)
			}
		}
	}()

	// Listen must be called before Ready.
	ln, err := upg.Listen("tcp", *addr)
	if err != nil {
		log.Fatalln("can't listen:", err)
	}

	server := http.Server{Handler: routes.Mux(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		err := server.Serve(ln)
		if err != http.ErrServerClosed {
			log.Println("HTTP server:", err)
		}
	}()

	log.Printf("ready on %s", ln.Addr())
	if err := upg.Ready(); err != nil {
		log.Fatalln("ready:", err)
	}
	<-upg.Exit()
	log.Print("exit: shutting down")

	// As the example says: set a deadline on exiting once Exit is closed,
	// since no new upgrade can be performed while the parent runs.
	time.AfterFunc(30*time.Second, func() {
		log.Println("graceful shutdown timed out")
		os.Exit(1)
	})

	// Wait for connections to drain.
	server.Shutdown(context.Background())
	log.Print("shutdown complete")
}
