// Package routes has the routes the bench's servers of other patterns share
// with drain's demo: GET /fast answers at once, GET /slow?ms=N after N
// milliseconds, or 503 if the request's context ends first.
package routes

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// Mux returns a new ServeMux with the routes.
func Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "fast\n")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "ms must be a number of milliseconds", http.StatusBadRequest)
			return
		}
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			io.WriteString(w, "slow\n")
		case <-r.Context().Done():
			http.Error(w, "request cancelled", http.StatusServiceUnavailable)
		}
	})
	return mux
}
