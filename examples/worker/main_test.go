package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsServer starts nats-server with JetStream on loopback, in a temporary
// directory, and returns its URL. Without nats-server the test is skipped,
// unless CI=true.
func natsServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nats-server is not installed (apt-get install nats-server); CI needs it")
		}
		t.Skip("nats-server is not installed (apt-get install nats-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if nc, err := nats.Connect(url); err == nil {
			nc.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatal("nats-server did not start")
		}
	}
}

// A tally counts how many times each job was done.
type tally struct {
	mu   sync.Mutex
	done map[string]int
}

func (t *tally) add(j *header) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[j.ID]++
}

func (t *tally) count(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done[id]
}

// start runs the service and returns its HTTP address and a function that
// stops it and returns its exit code.
func start(t *testing.T, url string, done *tally, args ...string) (addr string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serving := make(chan string, 1)
	code := make(chan int, 1)
	args = append([]string{"-addr", "127.0.0.1:0", "-nats", url}, args...)
	go func() { code <- run(ctx, args, io.Discard, hooks{serving: serving, done: done.add}) }()
	select {
	case addr = <-serving:
	case c := <-code:
		t.Fatalf("the service exited %d before serving", c)
	}
	return addr, func() int {
		cancel()
		select {
		case c := <-code:
			return c
		case <-time.After(30 * time.Second):
			t.Fatal("the service did not stop")
			return -1
		}
	}
}

// Fifty drains with jobs in hand, from the broker and from the HTTP
// endpoint: every drain exits 0, and in the end every job was done and
// acknowledged exactly once: none lost, none done twice.
func TestDrainsWithJobsInHand(t *testing.T) {
	url := natsServer(t)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	done := &tally{done: make(map[string]int)}
	var ids []string
	const drains = 50
	for i := range drains {
		addr, stop := start(t, url, done)
		for k := range 3 { // straight to the broker
			id := fmt.Sprintf("broker-%d-%d", i, k)
			msg := nats.NewMsg(subject)
			msg.Header.Set("Nats-Msg-Id", id)
			msg.Header.Set("Job-Ms", "80")
			if _, err := js.PublishMsg(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		id := fmt.Sprintf("http-%d", i) // through the in-process queue
		postJob(t, addr, "ms=30&id="+id)
		ids = append(ids, id)
		time.Sleep(20 * time.Millisecond) // jobs in hand
		if code := stop(); code != 0 {
			t.Fatalf("drain %d exited %d", i, code)
		}
	}

	// One more run does what is left.
	_, stop := start(t, url, done)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := 0
		for _, id := range ids {
			if done.count(id) == 0 {
				left++
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs never done", left, len(ids))
		}
	}
	if code := stop(); code != 0 {
		t.Errorf("the last run exited %d", code)
	}
	for _, id := range ids {
		if n := done.count(id); n != 1 {
			t.Errorf("job %s done %d times, want once", id, n)
		}
	}
}

// A job cut by a forced shutdown is not lost: the run exits 1, the job is
// not acknowledged, and the next run does it, once. One that heeds its
// context gives itself back at once; one that ignores it is abandoned,
// and JetStream delivers it again after AckWait (longer than the job, so
// that the next run's delivery is the only one); the abandoned call's late
// acknowledgement fails, its connection closed with its run.
func TestCutJobDeliveredAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string        // of POST /jobs
		args  []string      // of both runs, after the forced run's -timeout
		after time.Duration // for the abandoned call to end, before the count
	}{
		{"heeds its context", "ms=3000&id=cut", nil, 0},
		{"ignores its context", "ms=1500&ignore=1&id=cut", []string{"-ack-wait", "2s"}, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := natsServer(t)
			done := &tally{done: make(map[string]int)}
			addr, stop := start(t, url, done, append([]string{"-timeout", "300ms"}, tc.args...)...)
			postJob(t, addr, tc.query)
			time.Sleep(100 * time.Millisecond) // published and taken
			if code := stop(); code != 1 {
				t.Errorf("the forced run exited %d, want 1", code)
			}
			if n := done.count("cut"); n != 0 {
				t.Fatalf("the cut job was done %d times by the forced run", n)
			}
			_, stop = start(t, url, done, tc.args...)
			for deadline := time.Now().Add(20 * time.Second); done.count("cut") == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the cut job was never delivered again")
				}
			}
			if code := stop(); code != 0 {
				t.Errorf("the next run exited %d", code)
			}
			time.Sleep(tc.after)
			if n := done.count("cut"); n != 1 {
				t.Errorf("the cut job was done %d times, want once", n)
			}
		})
	}
}

// postJob queues a job through the HTTP endpoint.
func postJob(t *testing.T, addr, query string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+"/jobs?"+query, "", nil)
	if err != nil {
		t.Fatalf("POST /jobs?%s: %v", query, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /jobs?%s: %s, want 202", query, resp.Status)
	}
}

// GET /metrics shows each worker's jobs in hand and that it takes jobs.
func TestMetricsShowWorkers(t *testing.T) {
	url := natsServer(t)
	done := &tally{done: make(map[string]int)}
	addr, stop := start(t, url, done)
	postJob(t, addr, "ms=3000&id=slow")
	want := []string{
		`drain_requests_in_flight{server="jobs"} 1`,
		`drain_accepting{server="jobs"} 1`,
		`drain_accepting{server="publisher"} 1`,
		`drain_accepting{server="api"} 1`,
	}
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
		if containsAll(body, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /metrics never showed %q:\n%s", want, body)
		}
	}
	if code := stop(); code != 0 {
		t.Errorf("exit %d, want 0 with the job done", code)
	}
	if done.count("slow") != 1 {
		t.Errorf("the job in hand was done %d times, want once", done.count("slow"))
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
