package drain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// A Worker is a [Server] that takes jobs from somewhere (a broker, a
// queue, a channel that handlers feed) and does them. Its two signals
// cannot be confused, since they reach two different functions:
//
//   - Next's context ends when the worker must stop taking jobs: when the
//     shutdown begins, or, for a worker added with [Group.AddAfter], once
//     the servers that feed it have drained;
//   - Do's context ends only if the shutdown is forced (its Timeout, a
//     second signal), with cause [ErrForced]: the job in hand should stop
//     and give itself back (nack, requeue, leave uncommitted) with a fresh
//     context, such as context.WithoutCancel(ctx) with a short timeout,
//     within the 500ms the group waits for a closed server.
//
// So a shutdown stops the intake, lets every job in hand finish within the
// group's budget, and only then cancels what is left. Jobs in hand show in
// the group's logs and in [Group.Stats] as requests, the oldest with its
// age.
//
//	w := &drain.Worker[*nats.Msg]{
//		Name: "billing",
//		Next: func(ctx context.Context) (*nats.Msg, error) { return sub.NextMsgWithContext(ctx) },
//		Do: func(ctx context.Context, m *nats.Msg) error {
//			if err := bill(ctx, m); err != nil {
//				return m.Nak() // delivered again, to this consumer or another
//			}
//			return m.Ack()
//		},
//	}
//	g.Add(w)
//
// A Worker runs once: after Shutdown or Close it cannot serve again.
type Worker[J any] struct {
	// Name names the worker in logs, errors and metrics. Required.
	Name string

	// Next waits for the next job and returns it. Its context ends when
	// the worker must take no more new work: Next then returns at once
	// the jobs already in this process that should still be done (what an
	// in-process queue holds, as [FromChannel] does), and an error once
	// there is none (for a broker's consumer, at once). The worker calls
	// Next until its first error. An error before the context ends stops
	// the worker, and is the error of Serve, which begins the group's
	// shutdown.
	Next func(ctx context.Context) (J, error)

	// Do does one job. Its context ends only when the shutdown is forced,
	// with cause ErrForced. Its error is logged; it does not stop the
	// worker.
	Do func(ctx context.Context, job J) error

	// Concurrency is how many jobs are done at once, each taken by its own
	// call to Next. Defaults to 1.
	Concurrency int

	// Logger receives the worker's logs: the jobs that failed. Defaults
	// to the Group's logger, or to slog.Default.
	Logger *slog.Logger

	mu        sync.Mutex
	inherited groupLogger
	state     workerState
	stopTake  context.CancelFunc      // ends Next's context
	abort     context.CancelCauseFunc // ends Do's context
	inHand    map[*job]struct{}       // jobs being done
	notTaking chan struct{}           // closed when Next's context ends, or would have
	done      chan struct{}           // closed when every loop has returned
	err       error                   // why the worker stopped taking jobs on its own
	forced    int                     // jobs in hand when Close was called
}

type workerState int

const (
	workerNew workerState = iota
	workerServing
	workerStopping
	workerDone
)

// A job is a job in hand, for the logs and stats.
type job struct{ start time.Time }

var (
	_ Initializer       = (*Worker[int])(nil)
	_ StatsReporter     = (*Worker[int])(nil)
	_ ShutdownPreparer  = (*Worker[int])(nil)
	_ AcceptingReporter = (*Worker[int])(nil)
)

// String returns the worker's name.
func (w *Worker[J]) String() string { return w.Name }

// Init checks the configuration, and makes the worker log through log
// unless Logger is set (see [Initializer]).
func (w *Worker[J]) Init(log *slog.Logger) error {
	w.inherited.set(log)
	return w.validate()
}

func (w *Worker[J]) validate() error {
	var errs []error
	if w.Name == "" {
		errs = append(errs, errors.New("the Worker has no Name"))
	}
	if w.Next == nil {
		errs = append(errs, errors.New("Worker.Next is nil"))
	}
	if w.Do == nil {
		errs = append(errs, errors.New("Worker.Do is nil"))
	}
	if w.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("negative Concurrency %d", w.Concurrency))
	}
	return errors.Join(errs...)
}

func (w *Worker[J]) logger() *slog.Logger { return w.inherited.or(w.Logger) }

// Serve takes jobs and does them until Shutdown or Close. It returns nil
// then, once every job in hand is done, or Next's error if Next failed
// while the worker was taking jobs (see [Server]).
func (w *Worker[J]) Serve() error {
	takeCtx, workCtx, err := w.start()
	if takeCtx == nil || err != nil {
		return err
	}
	var loops sync.WaitGroup
	for range cmp.Or(w.Concurrency, 1) {
		loops.Go(func() { w.loop(takeCtx, workCtx) }) // owned: Serve waits for every loop
	}
	loops.Wait()
	w.mu.Lock()
	w.stopTake() // release the contexts: no job is left to use them
	w.abort(context.Canceled)
	err = w.err
	w.state = workerDone
	w.closeIntakeLocked()
	w.mu.Unlock()
	close(w.done)
	return err
}

// loop takes jobs and does them until Next fails: when the intake has
// stopped and Next has nothing more to give, or on its own.
func (w *Worker[J]) loop(takeCtx, workCtx context.Context) {
	log := w.logger()
	for {
		var j J
		err := protect(func() (err error) { j, err = w.Next(takeCtx); return err })
		if err != nil {
			if takeCtx.Err() == nil {
				// Failed on its own: the worker stops, and says why.
				w.mu.Lock()
				if w.err == nil {
					w.err = fmt.Errorf("next job: %w", err)
				}
				w.mu.Unlock()
				w.stopTaking()
			}
			return
		}
		rec := &job{start: time.Now()}
		w.mu.Lock()
		w.inHand[rec] = struct{}{}
		w.mu.Unlock()
		if err := protect(func() error { return w.Do(workCtx, j) }); err != nil {
			log.Error("drain: job failed", "worker", w.Name, "err", err, "duration", time.Since(rec.start).Round(time.Millisecond))
		}
		w.mu.Lock()
		delete(w.inHand, rec)
		w.mu.Unlock()
	}
}

// start checks the configuration and makes the contexts. It returns nil
// contexts if the worker was stopped before it started.
func (w *Worker[J]) start() (takeCtx, workCtx context.Context, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case workerNew:
	case workerServing, workerStopping:
		return nil, nil, errors.New("drain: Worker.Serve called twice")
	default:
		return nil, nil, nil
	}
	w.init()
	if err := w.validate(); err != nil {
		w.state = workerDone
		w.closeIntakeLocked()
		close(w.done)
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	w.state = workerServing
	takeCtx, w.stopTake = context.WithCancel(context.Background())
	workCtx, w.abort = context.WithCancelCause(context.Background())
	return takeCtx, workCtx, nil
}

// init makes the channels. w.mu is held.
func (w *Worker[J]) init() {
	if w.done == nil {
		w.done = make(chan struct{})
		w.notTaking = make(chan struct{})
		w.inHand = make(map[*job]struct{})
	}
}

// closeIntakeLocked closes notTaking, once. w.mu is held.
func (w *Worker[J]) closeIntakeLocked() {
	select {
	case <-w.notTaking:
	default:
		close(w.notTaking)
	}
}

// PrepareShutdown stops the intake when the group's shutdown begins, with
// a ShutdownDelay: a consumer stops taking jobs from its broker at once,
// and finishes those in hand. A worker added with [Group.AddAfter] is not
// told: it takes jobs until the servers that feed it have drained.
func (w *Worker[J]) PrepareShutdown() { w.stopTaking() }

// NotAccepting returns a channel closed once the worker takes no new
// work: when Next's context ends (the shutdown began, or, for a worker
// added with [Group.AddAfter], the servers that feed it have drained), or
// when the worker stops on its own. Next may still hand out what is
// already in this process (see [FromChannel]); the jobs in hand go on.
func (w *Worker[J]) NotAccepting() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	return w.notTaking
}

// stopTaking ends Next's context, once.
func (w *Worker[J]) stopTaking() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	switch w.state {
	case workerNew:
		w.state = workerDone
		close(w.done)
	case workerServing:
		w.state = workerStopping
		w.stopTake()
	}
	w.closeIntakeLocked()
}

// Shutdown stops the intake and waits for the jobs in hand to be done, or
// for ctx to end. It returns nil when they are, [ErrForced] if Close
// forced them, or ctx's error.
func (w *Worker[J]) Shutdown(ctx context.Context) error {
	w.stopTaking()
	select {
	case <-w.done:
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.forced > 0 {
			return ErrForced
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the intake, cancels the context of every job in hand with
// cause [ErrForced], logs each of them, and waits for them to return.
func (w *Worker[J]) Close() error {
	w.stopTaking()
	w.mu.Lock()
	abort := w.abort
	ages := make([]time.Duration, 0, len(w.inHand))
	for j := range w.inHand {
		ages = append(ages, time.Since(j.start).Round(time.Millisecond))
	}
	if abort != nil && w.forced == 0 {
		w.forced = len(ages)
	} else {
		ages = nil
	}
	done := w.done
	w.mu.Unlock()
	log := w.logger()
	for _, age := range ages {
		log.Warn("drain: job still running at forced close", "worker", w.Name, "age", age)
	}
	if abort != nil {
		abort(fmt.Errorf("%w: worker %s closed", ErrForced, w.Name))
	}
	<-done
	return nil
}

// Stats returns the jobs in hand as Requests, the oldest with its age, and
// the jobs a forced close cut as ForcedRequests.
func (w *Worker[J]) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := Stats{Requests: len(w.inHand), ForcedRequests: w.forced}
	var oldest time.Time
	for j := range w.inHand {
		if oldest.IsZero() || j.start.Before(oldest) {
			oldest = j.start
		}
	}
	if !oldest.IsZero() {
		st.Oldest, st.OldestAge = "job", time.Since(oldest)
	}
	return st
}

// FromChannel returns a Worker's Next for an in-process queue: it takes
// jobs from ch, and once its context ends, what ch still holds, so that
// every job queued is done; then it returns the context's error. A closed
// ch ends the worker's intake too (with an error that stops the worker if
// the shutdown has not begun).
func FromChannel[J any](ch <-chan J) func(ctx context.Context) (J, error) {
	return func(ctx context.Context) (J, error) {
		var zero J
		select {
		case j, ok := <-ch:
			if !ok {
				return zero, errors.New("drain: the channel is closed")
			}
			return j, nil
		case <-ctx.Done():
		}
		select {
		case j, ok := <-ch:
			if ok {
				return j, nil
			}
		default:
		}
		return zero, ctx.Err()
	}
}

// isWorker reports whether s is a Worker, which has no socket.
func isWorker(s Server) bool {
	_, ok := s.(interface{ worker() })
	return ok
}

func (w *Worker[J]) worker() {}
