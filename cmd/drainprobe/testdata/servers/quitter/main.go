// Command quitter is a drainprobe test server that quits on its own: it
// serves for 300 milliseconds, then exits 0, before any signal comes.
//
// drainprobe cannot judge a shutdown it did not cause: it must stop with
// exit status 2 and say that the server exited before the signal.
//
// Routes and address: see package routes.
package main

import (
	"log"
	"net"
	"net/http"
	"time"

	"github.com/drain-go/drain/cmd/drainprobe/testdata/routes"
)

func main() {
	ln, err := net.Listen("tcp", routes.Addr())
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, routes.Handler())
	time.Sleep(300 * time.Millisecond)
	log.Print("quitting of my own accord")
}
