// Package routes is what every test server under ../servers serves, so
// that they differ only in how they shut down:
//
//	GET /fast        "fast\n" at once
//	GET /slow?ms=N   "slow\n" after N milliseconds; 400 if N is not a
//	                 whole number of milliseconds; 503 if the request's
//	                 context ends first (its client left, or a forced
//	                 shutdown cancelled it)
//
// The servers listen on [Addr]: ":$PORT", or ":3000" when PORT is unset,
// which is how drainprobe tells them where to listen.
package routes

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// DefaultPort is the port a server listens on when PORT is unset.
const DefaultPort = "3000"

// Addr returns the address to listen on: ":$PORT", or ":" + DefaultPort.
func Addr() string {
	if port := os.Getenv("PORT"); port != "" {
		return ":" + port
	}
	return ":" + DefaultPort
}

// Server returns a server of [Handler] on [Addr], whose connections have
// 10 seconds to send a request's header.
func Server() *http.Server {
	return &http.Server{Addr: Addr(), Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
}

// Handler returns a new handler serving GET /fast and GET /slow.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "fast\n")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "ms must be a whole number of milliseconds", http.StatusBadRequest)
			return
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			io.WriteString(w, "slow\n")
		case <-r.Context().Done():
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		}
	})
	return mux
}

// CloseWhenDraining wraps h so that, once draining is set, every response
// carries "Connection: close": net/http then closes each busy connection
// after its next response. (Not SetKeepAlivesEnabled(false): it closes
// the idle connections at once, under the busy clients' next requests.)
func CloseWhenDraining(h http.Handler, draining *atomic.Bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}
