package drain

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"
)

// ginLike is shaped like gin's Context: a context.Context whose Value does
// not reach the request's, with the request in an exported field.
type ginLike struct {
	context.Context
	Request *http.Request
}

func (*ginLike) Value(any) any { return nil }

type requestMethod struct{ context.Context }

func (requestMethod) Value(any) any { return nil }
func (c requestMethod) Request() *http.Request {
	r, _ := http.NewRequestWithContext(c.Context, "GET", "/", nil)
	return r
}

// Draining finds the request in the contexts of frameworks that carry
// it, so that the natural call does not fail in silence.
func TestDrainingThroughFrameworkContexts(t *testing.T) {
	ch := make(chan struct{})
	reqCtx := WithDraining(context.Background(), ch)
	r, _ := http.NewRequestWithContext(reqCtx, "GET", "/", nil)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want <-chan struct{}
	}{
		{"the request's context", reqCtx, ch},
		{"gin's Context", &ginLike{Context: context.Background(), Request: r}, ch},
		{"a Request method", requestMethod{reqCtx}, ch},
		{"a context of no request", context.Background(), nil},
		{"nil request", &ginLike{Context: context.Background()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Draining(tc.ctx); got != tc.want {
				t.Errorf("Draining = %v, want %v", got, tc.want)
			}
		})
	}
}

// A reverse proxy on drain, with EndStreams, ends the event streams it
// proxies cleanly when the drain begins, while an ordinary proxied request
// in flight finishes; the drain then ends on its own.
func TestEndStreamsProxiedEvents(t *testing.T) {
	leakcheck(t)
	log, _ := testLogger(t)

	// The backend: an event stream that never ends, and /slow.
	backendMux := testMux()
	backendMux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: tick %d\n\n", i)
			if rc.Flush() != nil {
				return
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	})
	backend := &HTTP{Server: &http.Server{Handler: backendMux}, Logger: log}
	backendAddr, _ := startHTTP(t, backend)

	target, _ := url.Parse("http://" + backendAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	proxy.Transport = EndStreams(tr)
	front := &HTTP{Server: &http.Server{Handler: proxy}, Logger: log}
	addr, served := startHTTP(t, front)

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	resp, err := client.Get("http://" + addr + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	if line, err := events.ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: tick") {
		t.Fatalf("first event: %q, %v", line, err)
	}
	slow := make(chan error, 1)
	go func() {
		resp, err := client.Get("http://" + addr + "/slow?ms=400")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(body) != "slow\n" {
				err = fmt.Errorf("%d %q", resp.StatusCode, body)
			}
		}
		slow <- err
	}()
	waitFor(t, "the slow request", func() bool { return front.Stats().Requests == 2 })

	if _, err := shutdown(t, front); err != nil {
		t.Errorf("Shutdown of the proxy: %v; want the stream ended and the drain over", err)
	}
	if err := served(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if rest, err := io.ReadAll(events); err != nil {
		t.Errorf("the proxied stream was cut: %v (after %q)", err, rest)
	}
	if err := <-slow; err != nil {
		t.Errorf("the ordinary proxied request in flight: %v", err)
	}
	if s := front.Stats(); s.ForcedRequests+s.ForcedConns != 0 {
		t.Errorf("the proxy's drain was forced: %+v", s)
	}
}
