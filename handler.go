package drain

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// handler wraps a server's handler to track its requests and to end
// keep-alive once the drain begins: every HTTP/1 response whose header is
// written after that carries "Connection: close", so the client learns
// from the answer itself not to send another request on the connection.
// For HTTP/2 the same header makes net/http send GOAWAY.
type handler struct {
	t     *tracker
	next  http.Handler
	retry *RetryAfter // nil: no retry-after mode
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := connFrom(r.Context())
	if c == nil { // not a connection of ours: ServeHTTP called directly
		h.next.ServeHTTP(w, r)
		return
	}
	if h.retry != nil && h.t.respMode() == rejecting && !h.retry.exempt(r) {
		h.retry.reject(w)
		return
	}
	if r.ProtoMajor != 1 {
		h.serveHTTP2(c, w, r)
		return
	}
	rw := &responseWriter{ResponseWriter: w, c: c, req: newRequest(h.t, r)}
	c.beginHTTP1(&rw.req)
	defer c.endHTTP1()
	h.next.ServeHTTP(rw, r)
	if !rw.wrote && !rw.hijacked && c.closing() {
		// A handler that wrote nothing: net/http writes the header once
		// it returns.
		rw.ResponseWriter.Header().Set("Connection", "close")
	}
}

func (h *handler) serveHTTP2(c *conn, w http.ResponseWriter, r *http.Request) {
	if c.closing() {
		w.Header().Set("Connection", "close")
	}
	req := h2request{request: newRequest(h.t, r)}
	c.begin(&req)
	defer c.end(&req)
	h.next.ServeHTTP(w, r)
	if c.closing() {
		// For a response not yet sent: a handler that wrote nothing.
		w.Header().Set("Connection", "close")
	}
}

// A responseWriter wraps net/http's HTTP/1 response writer to add
// "Connection: close" to a response whose header is written while the
// server drains. It has every method of the writer it wraps, so handlers
// that look for http.Flusher, http.Hijacker or io.ReaderFrom still find
// them, and Unwrap for http.ResponseController.
type responseWriter struct {
	http.ResponseWriter
	c        *conn
	wrote    bool    // the header is written
	hijacked bool    // the handler took the connection over
	req      request // allocated with the writer: one allocation per request
}

// header is called before anything that writes the response header.
func (w *responseWriter) header() {
	if w.wrote {
		return
	}
	w.wrote = true
	if w.c.closing() {
		w.ResponseWriter.Header().Set("Connection", "close")
	}
}

func (w *responseWriter) WriteHeader(code int) {
	if code >= 200 { // 1xx responses come before the real header
		w.header()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.header()
	return w.ResponseWriter.Write(p)
}

func (w *responseWriter) WriteString(s string) (int, error) {
	w.header()
	if sw, ok := w.ResponseWriter.(io.StringWriter); ok { // net/http's is
		return sw.WriteString(s)
	}
	return w.ResponseWriter.Write([]byte(s))
}

func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	w.header()
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
}

func (w *responseWriter) Flush() {
	w.FlushError()
}

// FlushError is what http.ResponseController.Flush calls.
func (w *responseWriter) FlushError() error {
	w.header()
	switch f := w.ResponseWriter.(type) {
	case interface{ FlushError() error }:
		return f.FlushError()
	case http.Flusher:
		f.Flush()
		return nil
	}
	return http.ErrNotSupported
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := w.ResponseWriter.(http.Hijacker); ok {
		w.hijacked = true
		return hj.Hijack()
	}
	return nil, nil, http.ErrNotSupported
}

// CloseNotify keeps old handlers working (gin's Context.Stream calls it).
func (w *responseWriter) CloseNotify() <-chan bool {
	if cn, ok := w.ResponseWriter.(interface{ CloseNotify() <-chan bool }); ok {
		return cn.CloseNotify()
	}
	return nil
}

// Unwrap lets http.ResponseController reach the deadlines and full-duplex
// controls of the writer underneath.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
