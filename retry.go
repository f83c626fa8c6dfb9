package drain

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults for the fields of [RetryAfter].
const (
	defaultRetryStatus = http.StatusServiceUnavailable
	defaultRetryAfter  = time.Second
)

// RetryAfter configures the retry-after mode of an [HTTP] server (the
// Kubernetes apiserver has the same). When the drain begins, the server
// keeps its listener open while the requests in flight finish, and
// answers every new request at once with Status, a Retry-After header and
// "Connection: close", instead of refusing connections. Clients that
// honour Retry-After (and balancers that retry on 503) come back, by
// then to another instance. Once no request is left in flight, the
// listener closes and the drain goes on as usual.
//
// It helps when clients would rather get an answer than a refused
// connection, and the balancer may still send a few requests after the
// shutdown delay. With a delay longer than the balancer takes to notice,
// no request should be rejected at all.
type RetryAfter struct {
	// Status is the status of the rejections. Defaults to 503 (Service
	// Unavailable); it must be 4xx or 5xx.
	Status int

	// After is the time the client is asked to wait, in the Retry-After
	// header, rounded up to whole seconds. Defaults to 1s.
	After time.Duration

	// Exempt tells which requests are served normally rather than
	// rejected. Defaults to the health endpoints: requests for /livez,
	// /readyz and /healthz, and paths under them, so that probes see the
	// truth while the server drains.
	Exempt func(r *http.Request) bool
}

func (ra *RetryAfter) validate() error {
	var errs []error
	if ra.Status != 0 && (ra.Status < 400 || ra.Status > 599) {
		errs = append(errs, fmt.Errorf("RetryAfter.Status %d is not 4xx or 5xx", ra.Status))
	}
	if ra.After < 0 {
		errs = append(errs, fmt.Errorf("negative RetryAfter.After %v", ra.After))
	}
	return errors.Join(errs...)
}

// exempt reports whether r is served normally.
func (ra *RetryAfter) exempt(r *http.Request) bool {
	if ra.Exempt != nil {
		return ra.Exempt(r)
	}
	return isHealthPath(r.URL.Path)
}

// isHealthPath reports whether path is a health endpoint, by the
// Kubernetes conventions.
func isHealthPath(path string) bool {
	for _, p := range []string{"/livez", "/readyz", "/healthz"} {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// reject answers a request the draining server will not serve.
func (ra *RetryAfter) reject(w http.ResponseWriter) {
	status := defaultRetryStatus
	if ra.Status != 0 {
		status = ra.Status
	}
	after := defaultRetryAfter
	if ra.After > 0 {
		after = ra.After
	}
	secs := int64((after + time.Second - 1) / time.Second)
	h := w.Header()
	h.Set("Retry-After", strconv.FormatInt(secs, 10))
	h.Set("Connection", "close")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprint(w, "shutting down; retry later\n")
}
