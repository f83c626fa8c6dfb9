package drain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// defaultCheckTimeout is the default of [Health.CheckTimeout]: below the
// 1 s that a Kubernetes probe waits by default.
const defaultCheckTimeout = 800 * time.Millisecond

// Health serves the health endpoints of a [Group], following the
// conventions of Kubernetes:
//
//   - /livez answers 200 whatever the phase, as long as it can be
//     reached (see below): a process that is shutting down is not broken,
//     and must not be restarted;
//   - /readyz answers 503 from the moment the shutdown begins, so that
//     load balancers stop sending traffic, and otherwise runs the
//     readiness checks added with AddCheck. It answers 200 when every
//     check passes.
//
// With ?verbose, both list their checks, one per line, as "[+]name ok" or
// "[-]name failed: reason"; a failing /readyz always does. The reason a
// check of yours failed is withheld ("reason withheld") unless ShowErrors
// is set (the built-in check's, "shutting down", is always shown):
// probe endpoints are often reachable by anyone, and an error can carry
// internal details. Failures are logged with their errors, once when a
// check starts failing and once when it passes again. ?exclude=name (which
// may be repeated) skips a check, as in Kubernetes; the built-in
// "shutdown" check cannot be skipped.
//
// Get a group's Health from [Group.Health], mount its handlers on the
// main server or an admin server ([Health.Mount]), and set its fields
// before Run. A Health that does not come from a group is never ready.
//
// Mounted on a server of the group, /livez answers as long as that server
// accepts connections: through the shutdown delay, but not once it has
// stopped accepting. Liveness probes should tolerate a failure or two
// (Kubernetes' default failureThreshold is 3) or be served by a server
// outside the group.
type Health struct {
	// CheckTimeout bounds each readiness check: its context ends then,
	// and /readyz reports it failed. Defaults to 800ms, below the 1 s a
	// Kubernetes probe waits by default.
	CheckTimeout time.Duration

	// ShowErrors shows why a check failed in the responses, instead of
	// "reason withheld".
	ShowErrors bool

	// A Health knows its group through the group's public events only.
	// The group, which owns it, calls validate when Run starts and stop
	// when it ends.
	g       *Group
	mu      sync.Mutex
	checks  []*healthCheck
	stopped bool            // the group's Run has returned: checks run with an ended context
	errs    []error         // bad AddCheck calls not yet reported
	failing map[string]bool // checks whose last run failed
}

type healthCheck struct {
	name   string
	fn     func(context.Context) error
	flight *flight // the run in progress, which probes share; under Health.mu
}

// A flight is one run of a check.
type flight struct {
	done   chan struct{} // closed when err is set
	err    error
	cancel context.CancelCauseFunc // ends the check's context
}

// errStopped is why the checks' contexts end when the group's Run returns.
var errStopped = errors.New("drain: the group has stopped")

// stop ends the contexts of the checks running when the group's Run
// returns, and waits a moment for them: a check that heeds its context
// returns at once, and one that does not is left, as a cleanup function
// would be. It returns the errors of AddCheck calls made while Run ran.
func (h *Health) stop() error {
	h.mu.Lock()
	h.stopped = true
	late := errors.Join(h.errs...)
	h.errs = nil
	var running []*flight
	for _, c := range h.checks {
		if c.flight != nil {
			c.flight.cancel(errStopped)
			running = append(running, c.flight)
		}
	}
	h.mu.Unlock()
	if late != nil {
		late = fmt.Errorf("%w: health: %w", ErrInvalid, late)
	}
	if len(running) == 0 {
		return late
	}
	linger := time.NewTimer(cleanupLinger)
	defer linger.Stop()
	for _, f := range running {
		select {
		case <-f.done:
		case <-linger.C:
			return late
		}
	}
	return late
}

// shutdownCheck is the name of the built-in readiness check, which fails
// when the group is not serving: before Run, and from the start of the
// shutdown.
const shutdownCheck = "shutdown"

// Health returns the group's health endpoints, the same every time.
func (g *Group) Health() *Health {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.health == nil {
		g.health = &Health{g: g}
	}
	return g.health
}

// AddCheck adds a readiness check: /readyz fails while check returns an
// error. It runs when /readyz is asked, concurrently with the other checks
// and with a context that ends after CheckTimeout; make it cheap, like a
// database ping. Probes that arrive while it runs share that run, so a
// check runs at most once at a time, even one that ignores its context:
// that one is reported as still running, and left to finish. When the
// group's Run returns, the context of a check still running ends, and Run
// gives it 50ms to return, as it does cleanup functions. AddCheck may be
// called while Run runs.
//
// A check on a dependency shared by every replica (one database) takes
// them all out of rotation together when it fails: check what this
// instance alone can fix by being restarted or avoided. The name appears in the verbose output and the logs:
// letters, digits, '.', '_' and '-', unique, and not "shutdown", which is
// the built-in check. A bad name or a nil check is an error that Run
// returns, wrapping [ErrInvalid].
func (h *Health) AddCheck(name string, check func(ctx context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.checkName(name)
	if err == nil && check == nil {
		err = fmt.Errorf("check %q has no function", name)
	}
	if err != nil {
		h.errs = append(h.errs, err) // see validate and stop
		return
	}
	h.checks = append(h.checks, &healthCheck{name: name, fn: check})
}

// checkName reports what is wrong with a new check's name. h.mu is held.
func (h *Health) checkName(name string) error {
	switch {
	case name == "":
		return errors.New("a check has no name")
	case name == shutdownCheck:
		return fmt.Errorf("check name %q is reserved for the built-in check", name)
	case strings.ContainsFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-')
	}):
		return fmt.Errorf("check name %q: use letters, digits, '.', '_' and '-'", name)
	case slices.ContainsFunc(h.checks, func(c *healthCheck) bool { return c.name == name }):
		return fmt.Errorf("two checks named %q", name)
	}
	return nil
}

// validate returns what is wrong with the configuration so far. Errors
// of later AddCheck calls are returned by stop.
func (h *Health) validate() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	errs := h.errs
	h.errs = nil
	if h.CheckTimeout < 0 {
		errs = append(errs, fmt.Errorf("negative CheckTimeout %v", h.CheckTimeout))
	}
	return errors.Join(errs...)
}

// Mount registers the handlers on mux at /livez and /readyz. mux is an
// [http.ServeMux], or any router with the same Handle method.
func (h *Health) Mount(mux interface{ Handle(string, http.Handler) }) {
	mux.Handle("/livez", h.Livez())
	mux.Handle("/readyz", h.Readyz())
}

// Livez returns the handler of /livez.
func (h *Health) Livez() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowRead(w, r) {
			return
		}
		writeResults(w, r, "livez", []checkResult{{name: "ping"}}, true)
	})
}

// Readyz returns the handler of /readyz.
func (h *Health) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowRead(w, r) {
			return
		}
		results := h.run(excluded(r), nil)
		writeResults(w, r, "readyz", results, h.ShowErrors)
	})
}

// A checkResult is what became of one check in one request.
type checkResult struct {
	name     string
	err      error
	excluded bool
}

// run runs the readiness checks, unless the group is not serving: then
// only the built-in check, which fails, is reported. The built-in check
// cannot be excluded.
//
// The wait for the checks also ends when stop is closed: they are then
// reported still running.
func (h *Health) run(exclude map[string]bool, stop <-chan struct{}) []checkResult {
	res := []checkResult{{name: shutdownCheck}}
	if h.g == nil {
		res[0].err = errors.New("not a Group's: get it from Group.Health")
		return res
	}
	switch {
	case h.g.When(Serving).IsZero():
		res[0].err = errors.New("not serving yet")
	case !h.g.When(ShutdownInitiated).IsZero():
		res[0].err = errors.New("shutting down")
	}
	if res[0].err != nil {
		return res
	}

	timeout := h.CheckTimeout
	if timeout <= 0 {
		timeout = defaultCheckTimeout
	}
	h.mu.Lock()
	flights := make([]*flight, len(h.checks))
	for i, c := range h.checks {
		res = append(res, checkResult{name: c.name, excluded: exclude[c.name]})
		if !exclude[c.name] {
			flights[i] = h.fly(c, timeout)
		}
	}
	h.mu.Unlock()

	// A check that heeds its context has returned by the timeout; one
	// that does not is reported as still running a moment later, and
	// left to finish: the next probes share its run rather than start
	// another.
	wait := time.NewTimer(timeout + cleanupLinger)
	defer wait.Stop()
	expired := false
	for i, f := range flights {
		if f == nil {
			continue
		}
		if !expired {
			select {
			case <-f.done:
			case <-wait.C:
				expired = true
			case <-stop:
				expired = true
			}
		}
		select {
		case <-f.done:
			res[i+1].err = f.err
		default:
			res[i+1].err = fmt.Errorf("still running, %v after it began", timeout)
		}
	}
	h.logTransitions(res[1:])
	return res
}

// fly returns the run of c in progress, or starts one. The run does not
// depend on the probe that started it: a client that goes away does not
// fail it. h.mu must be held.
func (h *Health) fly(c *healthCheck, timeout time.Duration) *flight {
	if c.flight != nil {
		return c.flight
	}
	f := &flight{done: make(chan struct{})}
	c.flight = f
	base, cancelBase := context.WithCancelCause(context.Background())
	if h.stopped {
		cancelBase(errStopped)
	}
	f.cancel = cancelBase
	go func() { // one per check at a time; stop waits for it
		ctx, cancel := context.WithTimeoutCause(base, timeout, fmt.Errorf("timed out after %v", timeout))
		err := protect(func() error { return c.fn(ctx) })
		cancel()
		cancelBase(nil)
		h.mu.Lock()
		f.err = err
		c.flight = nil
		h.mu.Unlock()
		close(f.done)
	}()
	return f
}

// logTransitions logs the checks that have begun to fail, with their
// errors, and those that pass again.
func (h *Health) logTransitions(res []checkResult) {
	log := h.g.logger()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing == nil {
		h.failing = make(map[string]bool)
	}
	for _, r := range res {
		if r.excluded {
			continue
		}
		was := h.failing[r.name]
		switch {
		case r.err != nil && !was:
			h.failing[r.name] = true
			log.Warn("drain: readiness check failing", "check", r.name, "err", r.err)
		case r.err == nil && was:
			delete(h.failing, r.name)
			log.Info("drain: readiness check passing again", "check", r.name)
		}
	}
}

// excluded returns the checks named by ?exclude=.
func excluded(r *http.Request) map[string]bool {
	names := r.URL.Query()["exclude"]
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		for part := range strings.SplitSeq(n, ",") {
			m[strings.TrimSpace(part)] = true
		}
	}
	return m
}

// allowRead answers 405 to anything but GET and HEAD.
func allowRead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// writeResults answers 200 "ok" if every check passed (listing them with
// ?verbose), or 503 with the list.
func writeResults(w http.ResponseWriter, r *http.Request, endpoint string, res []checkResult, showErrors bool) {
	pass := !slices.ContainsFunc(res, func(c checkResult) bool { return c.err != nil && !c.excluded })
	_, verbose := r.URL.Query()["verbose"]
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if pass && !verbose {
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "ok\n")
		return
	}
	var b strings.Builder
	for _, c := range res {
		switch {
		case c.excluded:
			fmt.Fprintf(&b, "[+]%s excluded: ok\n", c.name)
		case c.err == nil:
			fmt.Fprintf(&b, "[+]%s ok\n", c.name)
		case showErrors || c.name == shutdownCheck:
			msg, _, _ := strings.Cut(c.err.Error(), "\n") // not a panic's stack
			fmt.Fprintf(&b, "[-]%s failed: %s\n", c.name, msg)
		default:
			fmt.Fprintf(&b, "[-]%s failed: reason withheld\n", c.name)
		}
	}
	status := http.StatusOK
	if pass {
		fmt.Fprintf(&b, "%s check passed\n", endpoint)
	} else {
		status = http.StatusServiceUnavailable
		fmt.Fprintf(&b, "%s check failed\n", endpoint)
	}
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}
