package probe

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
	"github.com/drain-go/drain/internal/probe/wire"
)

// BenchmarkThroughput measures the rate the probe's busy clients sustain
// against a bare net/http server with a hello handler
// (bench/servers/hello -mode bare): 16 busy clients on /hello for a 3 s
// warm-up, the server and the probe sharing the machine's CPUs, as they do
// when the probe measures a shutdown. It reports the rate ("req/s") and
// the probe's scheduling lag ("lag-p99-ms"). Measure without -race:
//
//	go test -run '^$' -bench Throughput -benchtime 3x ./internal/probe
func BenchmarkThroughput(b *testing.B) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("no go command to build the server with")
	}
	bin := filepath.Join(b.TempDir(), "hello")
	if out, err := exec.Command(goTool, "build", "-o", bin, "../../bench/servers/hello").CombinedOutput(); err != nil {
		b.Fatalf("build the hello server: %v\n%s", err, out)
	}
	var rate, lag float64
	for range b.N {
		rep, err := Run(context.Background(), Config{
			Server: Command{Args: []string{bin, "-mode", "bare"}},
			Load:   Load{Busy: 16, BusyPath: "/hello"},
			Warmup: 3 * time.Second,
		})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Busy.Status[2] == 0 || rep.Busy.Answered() != rep.Busy.Status[2] {
			b.Fatalf("busy clients: %+v, want 2xx only", rep.Busy)
		}
		b.Logf("%.0f req/s, lag p99 %v, max %v, signal %v late, kept up: %v",
			rep.BusyRate, rep.LagP99, rep.LagMax, rep.SignalLag, rep.KeptUp())
		rate += rep.BusyRate
		lag += float64(rep.LagP99) / float64(time.Millisecond)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rate/float64(b.N), "req/s")
	b.ReportMetric(lag/float64(b.N), "lag-p99-ms")
}

// BenchmarkClient measures one busy request of the probe's client against
// a raw keep-alive server in the test process: its allocations are the
// probe's cost per request (the time includes the server's).
//
//	go test -run '^$' -bench Client -benchmem ./internal/probe
func BenchmarkClient(b *testing.B) {
	s := serveRaw(b, keepAlive)
	d := newDriver(s.addr(), s.addr(), withDefaults(Load{}), newRecorder(0), nil)
	d.rec.timeline.begin(time.Now(), time.Time{}, time.Hour)
	c := wire.NewClient(s.addr(), time.Minute)
	defer c.Close()
	t := d.rec.tally(report.Busy)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if rec := t.add(0, c.Do(ctx, d.busyReq), false); rec.Outcome != report.Answered {
			b.Fatal(rec.Describe(time.Time{}))
		}
	}
}
