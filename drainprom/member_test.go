package drainprom_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/drainprom"
)

// A queueWorker is a Group member written in another module than drain,
// against its public API only, as a gRPC server or a queue consumer will
// be: it takes jobs from a channel, and has every optional method of the
// seam (drain.Server's documentation lists them).
type queueWorker struct {
	name  string
	queue chan string // nil: Init reports the configuration wrong

	log          *slog.Logger
	prepared     chan struct{} // closed by PrepareShutdown
	notAccepting chan struct{} // closed when it stops taking jobs
	stop         chan struct{} // closed by Shutdown or Close
	done         chan struct{} // closed when the job in hand is done
	stopOnce     sync.Once

	mu      sync.Mutex
	job     string // the job in hand
	started time.Time
}

var (
	_ drain.Initializer       = (*queueWorker)(nil)
	_ drain.StatsReporter     = (*queueWorker)(nil)
	_ drain.ShutdownPreparer  = (*queueWorker)(nil)
	_ drain.AcceptingReporter = (*queueWorker)(nil)
)

func newQueueWorker(name string, queue chan string) *queueWorker {
	return &queueWorker{
		name: name, queue: queue,
		prepared: make(chan struct{}), notAccepting: make(chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

func (w *queueWorker) String() string { return w.name }

func (w *queueWorker) Init(log *slog.Logger) error {
	if w.queue == nil {
		return errors.New("no queue to take jobs from")
	}
	w.log = log
	return nil
}

// Serve takes one job and works on it until its queue says it is done
// (a second value), then waits for the stop.
func (w *queueWorker) Serve() error {
	select {
	case job := <-w.queue:
		w.mu.Lock()
		w.job, w.started = job, time.Now()
		w.mu.Unlock()
		w.log.Info("worker: job taken", "server", w.name, "job", job)
		<-w.queue // the job's end
		w.mu.Lock()
		w.job = ""
		w.mu.Unlock()
	case <-w.stop:
	}
	close(w.done)
	<-w.stop
	return nil
}

func (w *queueWorker) Shutdown(ctx context.Context) error {
	w.stopIntake()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *queueWorker) Close() error {
	w.stopIntake()
	return nil
}

// stopIntake stops taking jobs: the job in hand goes on.
func (w *queueWorker) stopIntake() {
	w.stopOnce.Do(func() {
		close(w.notAccepting)
		close(w.stop)
	})
}

func (w *queueWorker) PrepareShutdown()              { close(w.prepared) }
func (w *queueWorker) NotAccepting() <-chan struct{} { return w.notAccepting }

func (w *queueWorker) Stats() drain.Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.job == "" {
		return drain.Stats{}
	}
	return drain.Stats{Requests: 1, Oldest: w.job, OldestAge: time.Since(w.started).Truncate(time.Second)}
}

// syncBuffer collects the group's logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A member of another package is a full member: validated before the
// group starts anything, named in the logs and the errors, its stats in the
// logs and in drainprom, told when the shutdown begins and heard when it
// has stopped accepting.
func TestMemberOfAnotherPackage(t *testing.T) {
	t.Run("invalid", func(t *testing.T) {
		var logs syncBuffer
		g := drain.Group{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Signals: []os.Signal{}}
		bad := newQueueWorker("billing", nil)
		g.Add(bad)
		err := g.Run(context.Background())
		if !errors.Is(err, drain.ErrInvalid) || !strings.Contains(err.Error(), "server billing: no queue to take jobs from") {
			t.Errorf("Run: %v; want ErrInvalid naming the server and its problem", err)
		}
		if !strings.Contains(logs.String(), "no queue to take jobs from") {
			t.Errorf("the log does not say why Run did not start:\n%s", logs.String())
		}
		select {
		case <-bad.done:
			t.Error("Serve ran, though the configuration was refused")
		default:
		}
	})

	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	g := drain.Group{Logger: log, Signals: []os.Signal{}, ShutdownDelay: 50 * time.Millisecond, Timeout: 20 * time.Second}
	queue := make(chan string)
	w := newQueueWorker("billing", queue)
	g.Add(w)
	c := drainprom.NewCollector(&g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	result := make(chan error, 1)
	go func() { result <- g.Run(ctx) }()

	queue <- "invoice 42" // taken once Serve runs
	for deadline := time.Now().Add(10 * time.Second); w.Stats().Requests == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker never reported its job")
		}
	}
	if w.log != log {
		t.Error("Init did not give the worker the group's logger")
	}
	cancel()
	<-g.Happened(drain.ShutdownInitiated)
	select {
	case <-w.prepared:
	default:
		t.Error("ShutdownInitiated happened before the worker was told the shutdown began")
	}
	<-g.Happened(drain.StoppedAccepting)
	select {
	case <-w.notAccepting:
	default:
		t.Error("StoppedAccepting happened before the worker stopped taking jobs")
	}
	if got := scrape(t, c)[`drain_requests_in_flight{server="billing"}`]; got != 1 {
		t.Errorf("drain_requests_in_flight{server=\"billing\"} = %v during the drain, want the job in hand", got)
	}
	select {
	case err := <-result:
		t.Fatalf("Run returned %v with a job in hand", err)
	default:
	}
	queue <- "" // the job ends
	if err := <-result; err != nil {
		t.Fatalf("Run: %v", err)
	}
	out := logs.String()
	for _, want := range []string{
		`msg="worker: job taken" server=billing job="invoice 42"`,              // through the group's logger
		`msg="drain: open" server=billing requests=1 oldest="invoice 42 (0s)"`, // its stats, as the group logs them
		`msg="drain: server drained" server=billing`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in the log:\n%s", want, out)
		}
	}
}
