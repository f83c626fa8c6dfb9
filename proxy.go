package drain

import (
	"io"
	"mime"
	"net/http"
	"sync"
)

// EndStreams returns a RoundTripper, for the Transport of an
// [net/http/httputil.ReverseProxy] served by [HTTP], that ends the
// server-sent event streams it proxies when the server begins to drain:
// the body of a response of type text/event-stream reads to its end, as if
// the backend had ended it, and the proxy finishes the response cleanly
// (the client's EventSource then reconnects, by then to another instance).
// Every other response is left alone, so ordinary proxied requests finish.
// rt does the work; nil means [net/http.DefaultTransport].
//
//	proxy := httputil.NewSingleHostReverseProxy(backend)
//	proxy.Transport = drain.EndStreams(nil)
//
// Without it, a proxied stream lasts until the backend ends it, and holds
// the drain until the shutdown is forced. Cancelling the outbound request
// when [Draining] fires, the obvious fix, is worse: ReverseProxy then fails
// every request still in flight, slow ordinary ones included, with 502, and
// cuts streams mid-response. Proxied WebSockets (and other upgraded
// connections) are hijacked connections: they are closed only when the
// shutdown is forced.
func EndStreams(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return streamEnder{rt}
}

type streamEnder struct{ rt http.RoundTripper }

func (s streamEnder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(req)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return resp, nil
	}
	if draining := Draining(req.Context()); draining != nil {
		resp.Body = newEndingBody(resp.Body, draining)
	}
	return resp, nil
}

// An endingBody reads body until draining is closed, and then reads as
// ended (io.EOF): body is closed, which ends a read in progress.
type endingBody struct {
	body   io.ReadCloser
	mu     sync.Mutex
	ended  bool // draining fired: reads return io.EOF
	close  sync.Once
	closed chan struct{} // closed by Close
	done   chan struct{} // closed when the watching goroutine returns
}

func newEndingBody(body io.ReadCloser, draining <-chan struct{}) *endingBody {
	b := &endingBody{body: body, closed: make(chan struct{}), done: make(chan struct{})}
	go func() { // owned: Close waits for it
		defer close(b.done)
		select {
		case <-draining:
			b.mu.Lock()
			b.ended = true
			b.mu.Unlock()
			b.body.Close()
		case <-b.closed:
		}
	}()
	return b
}

func (b *endingBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil {
		b.mu.Lock()
		if b.ended {
			err = io.EOF
		}
		b.mu.Unlock()
	}
	return n, err
}

func (b *endingBody) Close() error {
	b.close.Do(func() { close(b.closed) })
	<-b.done
	return b.body.Close()
}
