package drain

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// chanJobs takes jobs from a channel as a broker's consumer takes
// messages: once its context has ended, it takes no more.
func chanJobs(jobs <-chan int) func(ctx context.Context) (int, error) {
	return func(ctx context.Context) (int, error) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		select {
		case j := <-jobs:
			return j, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// The shutdown stops the intake, and the jobs in hand finish: none is
// cut, none left half-done, and no new one is taken.
func TestWorkerFinishesJobsInHand(t *testing.T) {
	leakcheck(t)
	jobs := make(chan int, 10)
	started := make(chan int, 10)
	var mu sync.Mutex
	var done []int
	w := &Worker[int]{
		Name:        "billing",
		Concurrency: 2,
		Next:        chanJobs(jobs),
		Do: func(ctx context.Context, j int) error {
			started <- j
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			mu.Lock()
			done = append(done, j)
			mu.Unlock()
			return nil
		},
	}
	log, logs := testLogger(t)
	g := &Group{Signals: []os.Signal{}, Logger: log}
	g.Add(w)
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	jobs <- 1
	jobs <- 2
	<-started
	<-started
	for j := 3; j <= 5; j++ {
		jobs <- j // queued: must not be taken once the shutdown begins
	}
	cancel()
	<-g.Happened(StoppedAccepting) // at once: the worker takes no new job
	if n := g.Stats()[0].Requests; n != 2 {
		t.Errorf("StoppedAccepting with %d jobs in hand, want the 2 that are still running", n)
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(done) != 2 || len(jobs) != 3 {
		t.Errorf("done %v, %d left in the queue; want the 2 jobs in hand done and 3 left", done, len(jobs))
	}
	if !strings.Contains(logs(), `msg="drain: open" server=billing requests=2 oldest="job (`) {
		t.Errorf("the log does not show the jobs in hand:\n%s", logs())
	}
}

// A job that outlasts the bound is cancelled with cause ErrForced, and
// may still give itself back with a fresh context.
func TestWorkerForcedJobGivenBack(t *testing.T) {
	leakcheck(t)
	jobs := make(chan int, 1)
	var requeued atomic.Bool
	var cause error
	w := &Worker[int]{
		Name: "mailer",
		Next: chanJobs(jobs),
		Do: func(ctx context.Context, j int) error {
			<-ctx.Done() // a job that takes longer than the bound
			cause = context.Cause(ctx)
			ack, cancel := context.WithTimeout(context.WithoutCancel(ctx), 100*time.Millisecond)
			defer cancel()
			if ack.Err() == nil {
				requeued.Store(true) // nack: delivered again elsewhere
			}
			return cause
		},
	}
	log, logs := testLogger(t)
	g := &Group{Signals: []os.Signal{}, Logger: log, Timeout: 200 * time.Millisecond}
	g.Add(w)
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	jobs <- 1
	waitFor(t, "the job", func() bool { return w.Stats().Requests == 1 })
	cancel()
	if err := wait(); !errors.Is(err, ErrForced) {
		t.Errorf("Run: %v; want ErrForced", err)
	}
	if !errors.Is(cause, ErrForced) || !requeued.Load() {
		t.Errorf("the job's context ended with %v, requeued %v; want ErrForced, and a fresh context to requeue with", cause, requeued.Load())
	}
	if !strings.Contains(logs(), `msg="drain: job still running at forced close" worker=mailer`) {
		t.Errorf("the log does not name the job cut:\n%s", logs())
	}
	if s := w.Stats(); s.ForcedRequests != 1 {
		t.Errorf("Stats().ForcedRequests = %d, want 1", s.ForcedRequests)
	}
}

// A worker fed by the process's own handlers, added after their server,
// takes jobs until that server has drained: every job a handler accepted
// is done before Run returns.
func TestWorkerAfterItsServer(t *testing.T) {
	leakcheck(t)
	queue := make(chan int, 1000)
	var accepted, processed atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // some work before the job is queued
		queue <- 1
		accepted.Add(1)
		w.WriteHeader(http.StatusAccepted)
	})
	h := &HTTP{Server: &http.Server{Handler: mux}, Listener: loopback(t)}
	w := &Worker[int]{
		Name: "queue",
		Next: FromChannel(queue),
		Do: func(ctx context.Context, _ int) error {
			time.Sleep(time.Millisecond)
			processed.Add(1)
			return nil
		},
	}
	g := &Group{Signals: []os.Signal{}, Logger: nopLogger()}
	g.Add(h)
	g.AddAfter(w, h)
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	addr := h.Listener.Addr().String()
	var clients sync.WaitGroup
	var answered atomic.Int64
	for range 8 {
		clients.Go(func() {
			c, err := dialRaw(addr)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				r, err := c.do("POST", "/jobs")
				if err != nil {
					return
				}
				if r.status == http.StatusAccepted {
					answered.Add(1)
				}
				if r.close {
					return
				}
			}
		})
	}
	waitFor(t, "some jobs", func() bool { return processed.Load() > 20 })
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	clients.Wait()
	if a, p := accepted.Load(), processed.Load(); a != p || answered.Load() != a {
		t.Errorf("%d jobs accepted by the handlers (%d answered 202), %d processed; want every accepted job processed", a, answered.Load(), p)
	}
}

func TestWorkerInvalid(t *testing.T) {
	leakcheck(t)
	other := &Worker[int]{Name: "other", Next: chanJobs(nil), Do: func(context.Context, int) error { return nil }}
	for _, tc := range []struct {
		name  string
		setup func(g *Group)
		want  string
	}{
		{"no Next", func(g *Group) { g.Add(&Worker[int]{Name: "w", Do: func(context.Context, int) error { return nil }}) }, "Worker.Next is nil"},
		{"no name", func(g *Group) {
			g.Add(&Worker[int]{Next: chanJobs(nil), Do: func(context.Context, int) error { return nil }})
		}, "no Name"},
		{"after a stranger", func(g *Group) { g.AddAfter(&Worker[int]{Name: "w"}, other) }, "server other (*drain.Worker[int]) was not added before it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Group{Signals: []os.Signal{}, Logger: nopLogger()}
			tc.setup(g)
			if err := g.Run(context.Background()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v; want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

// Parallel cleanups share the budget: a slow one does not delay the
// others, a stuck one is abandoned and named, errors are named.
func TestParallelCleanup(t *testing.T) {
	var fastDone atomic.Int64
	start := time.Now()
	release := make(chan struct{})
	defer close(release) // the stuck one, abandoned, ends with the test
	fn := Parallel(map[string]func(context.Context) error{
		"traces":  func(context.Context) error { fastDone.Add(1); return nil },
		"metrics": func(context.Context) error { fastDone.Add(1); return errors.New("exporter down") },
		"logs": func(context.Context) error {
			<-release // ignores its context
			return nil
		},
		"slow": func(ctx context.Context) error {
			select {
			case <-time.After(100 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := fn(ctx)
	took := time.Since(start)
	if fastDone.Load() != 2 {
		t.Errorf("%d of the fast functions ran, want 2", fastDone.Load())
	}
	msg := fmt.Sprint(err)
	if !strings.Contains(msg, "logs: abandoned, still running") || !strings.Contains(msg, "metrics: exporter down") || strings.Contains(msg, "slow") || strings.Contains(msg, "traces") {
		t.Errorf("Parallel: %v; want the stuck one abandoned and the failed one named, and nothing of the others", err)
	}
	if took > 5*time.Second {
		t.Errorf("Parallel returned after %v; want about its context's 300ms and the 50ms linger", took)
	}
}

// Through a group, a stuck function of Parallel is named in Run's error:
// Parallel gives up on it before the group would give up on Parallel.
func TestParallelCleanupInGroup(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	g := &Group{Signals: []os.Signal{}, Logger: nopLogger(), Timeout: 100 * time.Millisecond, CleanupReserve: 100 * time.Millisecond}
	g.Cleanup("telemetry", Parallel(map[string]func(context.Context) error{
		"traces": func(context.Context) error { return nil },
		"logs":   func(context.Context) error { <-release; return nil },
	}))
	ctx, cancel := context.WithCancel(context.Background())
	wait := runGroup(t, g, ctx)
	cancel()
	err := wait()
	if msg := fmt.Sprint(err); !strings.Contains(msg, `cleanup "telemetry": logs: abandoned, still running`) || strings.Contains(msg, "traces") {
		t.Errorf("Run: %v; want the stuck function named, and only it", err)
	}
}
