// Command worker is a service with two workers that drain: a consumer of
// a NATS JetStream stream, and a worker fed by its own HTTP handlers
// through an in-process queue, which publishes what they accept to the
// stream.
//
//	nats-server -js &
//	go run ./examples/worker                # HTTP on :$PORT, else :8080
//	curl -X POST 'localhost:8080/jobs?ms=2000'
//
// Flags: -addr (default :$PORT, else :8080), -nats (the server's URL,
// nats://127.0.0.1:4222), -timeout (the bound on the shutdown, 10s),
// -shutdown-delay (0), -ack-wait (how long JetStream waits for an ack
// before it delivers a job again, 30s). POST /jobs?ms=N queues a job that
// takes N milliseconds (100 by default); its answer, 202, means it will be
// done, shutdown or not. With ignore=1 the job ignores its context, as one
// stuck in a call that takes none: a forced shutdown abandons it. GET
// /metrics shows, among drainprom's metrics, the jobs each worker has in
// hand and whether it still takes new ones (drain_accepting).
//
// On SIGTERM: the HTTP server drains; the consumer stops fetching and
// finishes the jobs in hand, each acknowledged once done; the publisher
// stops only once the HTTP server has drained (Group.AddAfter), after
// publishing every job the handlers accepted; the NATS connection closes
// last. A job cut by a forced shutdown is not acknowledged: JetStream
// delivers it again, to this service's next run or another instance.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/drainprom"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr, hooks{}))
}

// hooks let the tests watch the service; both may be nil.
type hooks struct {
	serving chan<- string     // receives the HTTP address once it serves
	done    func(job *header) // called after a job is done and acknowledged
}

// A header says what a job is: its id, how long it takes, and whether it
// ignores its context (a job stuck in a call that takes none).
type header struct {
	ID     string
	MS     int
	Ignore bool
}

const (
	streamName = "JOBS"
	subject    = "jobs.work"
	consumer   = "worker"
)

func run(ctx context.Context, args []string, stderr io.Writer, h hooks) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr(), "HTTP address to listen on")
	natsURL := fs.String("nats", nats.DefaultURL, "NATS server URL")
	timeout := fs.Duration("timeout", drain.DefaultTimeout, "bound on the shutdown, delay included")
	delay := fs.Duration("shutdown-delay", 0, "how long to serve on after the signal")
	ackWait := fs.Duration("ack-wait", 30*time.Second, "how long JetStream waits for an ack before delivering a job again")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	fail := func(err error) int {
		log.Error("worker: not started", "err", err)
		return 1
	}

	nc, err := nats.Connect(*natsURL, nats.Name("drain-example-worker"))
	if err != nil {
		return fail(err)
	}
	defer nc.Close() // if Run never gets to its cleanup
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(err)
	}
	setup, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(setup, jetstream.StreamConfig{Name: streamName, Subjects: []string{subject}})
	if err != nil {
		return fail(err)
	}
	cons, err := stream.CreateOrUpdateConsumer(setup, jetstream.ConsumerConfig{
		Durable:   consumer,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   *ackWait,
	})
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(err)
	}

	// The in-process queue: the handlers put jobs in, the publisher takes
	// them out and publishes them to the stream.
	queue := make(chan header, 1024)
	g := &drain.Group{Timeout: *timeout, ShutdownDelay: *delay, Logger: log}
	reg := prometheus.NewRegistry()
	reg.MustRegister(drainprom.NewCollector(g)) // jobs in hand, and whether each worker takes jobs
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	var ids sync.Mutex
	next := 0
	mux.HandleFunc("POST /jobs", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(cmp.Or(r.URL.Query().Get("ms"), "100"))
		if err != nil || ms < 0 {
			http.Error(w, "ms: a number of milliseconds", http.StatusBadRequest)
			return
		}
		ids.Lock()
		next++
		id := cmp.Or(r.URL.Query().Get("id"), fmt.Sprintf("http-%d", next))
		ids.Unlock()
		select {
		case queue <- header{ID: id, MS: ms, Ignore: r.URL.Query().Get("ignore") == "1"}:
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintln(w, id)
		default:
			http.Error(w, "queue full", http.StatusServiceUnavailable)
		}
	})
	api := &drain.HTTP{Server: &http.Server{Handler: mux}, Listener: ln, Name: "api"}

	publisher := &drain.Worker[header]{
		Name: "publisher",
		Next: drain.FromChannel(queue),
		Do: func(ctx context.Context, j header) error {
			msg := nats.NewMsg(subject)
			msg.Header.Set("Nats-Msg-Id", j.ID) // published once, even if retried
			msg.Header.Set("Job-Ms", strconv.Itoa(j.MS))
			if j.Ignore {
				msg.Header.Set("Job-Ignores-Context", "1")
			}
			_, err := js.PublishMsg(context.WithoutCancel(ctx), msg)
			return err
		},
	}
	worker := &drain.Worker[jetstream.Msg]{
		Name:        "jobs",
		Concurrency: 4,
		Next: func(ctx context.Context) (jetstream.Msg, error) {
			if err := ctx.Err(); err != nil {
				return nil, err // a broker's consumer takes no more once told to stop
			}
			return cons.Next(jetstream.FetchContext(ctx))
		},
		Do: func(ctx context.Context, m jetstream.Msg) error {
			j := &header{ID: m.Headers().Get("Nats-Msg-Id")}
			j.MS, _ = strconv.Atoi(m.Headers().Get("Job-Ms"))
			if m.Headers().Get("Job-Ignores-Context") == "1" {
				// Deaf to a forced shutdown: abandoned at the bound,
				// never acknowledged, delivered again after AckWait.
				time.Sleep(time.Duration(j.MS) * time.Millisecond)
				return ack(ctx, m, j, h)
			}
			select {
			case <-time.After(time.Duration(j.MS) * time.Millisecond): // the work
			case <-ctx.Done():
				// Forced: give the job back, with a fresh context, so that
				// it is delivered again at once rather than after AckWait.
				return errors.Join(context.Cause(ctx), m.Nak())
			}
			return ack(ctx, m, j, h)
		},
	}

	g.Add(api)
	g.Add(worker)
	g.AddAfter(publisher, api)
	g.Cleanup("nats", func(ctx context.Context) error { return nc.Drain() })

	var wg sync.WaitGroup
	stopped := make(chan struct{})
	if h.serving != nil {
		wg.Go(func() {
			select {
			case <-g.Happened(drain.Serving):
				h.serving <- ln.Addr().String()
			case <-stopped:
			}
		})
	}
	code := drain.ExitCode(g.Run(ctx))
	close(stopped)
	wg.Wait()
	return code
}

// ack acknowledges a job done, with a fresh context: the job's may have
// ended while the acknowledgement was due.
func ack(ctx context.Context, m jetstream.Msg, j *header, h hooks) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := m.DoubleAck(ctx); err != nil {
		return fmt.Errorf("ack %s: %w", j.ID, err)
	}
	if h.done != nil {
		h.done(j)
	}
	return nil
}

func defaultAddr() string {
	if port := os.Getenv("PORT"); port != "" {
		return ":" + port
	}
	return ":8080"
}
