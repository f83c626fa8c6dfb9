package ecosystem

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/gin-gonic/gin"
	"github.com/labstack/echo/v4"
)

// An event stream written the way each router's users write one: the
// handler selects on drain.Draining, called as a user of that router
// would call it, says goodbye and returns when the server drains.
func TestRouterEventStreamsEndAtDrain(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	for _, tc := range []struct {
		name    string
		handler func() http.Handler
	}{
		{"gin, drain.Draining(c)", func() http.Handler {
			r := gin.New() // ContextWithFallback is off, as by default
			r.GET("/events", func(c *gin.Context) {
				c.Header("Content-Type", "text/event-stream")
				stream(c.Writer, drain.Draining(c))
			})
			return r
		}},
		{"echo, drain.Draining(c.Request().Context())", func() http.Handler {
			e := echo.New()
			e.HideBanner, e.HidePort = true, true
			e.GET("/events", func(c echo.Context) error {
				c.Response().Header().Set("Content-Type", "text/event-stream")
				stream(c.Response(), drain.Draining(c.Request().Context()))
				return nil
			})
			return e
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := loopback(t)
			h := &drain.HTTP{Server: &http.Server{Handler: tc.handler()}, Listener: ln, Logger: testLogger(t)}
			served := serve(t, h)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "data: tick") {
				t.Fatalf("first event: %q, %v", line, err)
			}
			if err := shutdown(t, h); err != nil {
				t.Errorf("Shutdown: %v; want the stream ended by its handler, not forced", err)
			}
			rest, err := io.ReadAll(resp.Body)
			if err != nil || !strings.Contains(string(rest), "event: bye") {
				t.Errorf("the stream ended with %q, %v; want the goodbye", rest, err)
			}
			if err := served(); err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}

// stream writes an event every 20ms until draining closes, then says
// goodbye.
func stream(w http.ResponseWriter, draining <-chan struct{}) {
	rc := http.NewResponseController(w)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		fmt.Fprintf(w, "data: tick %d\n\n", i)
		if rc.Flush() != nil {
			return
		}
		select {
		case <-tick.C:
		case <-draining:
			fmt.Fprint(w, "event: bye\ndata: restarting\n\n")
			return
		}
	}
}
