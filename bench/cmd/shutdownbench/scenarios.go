package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/drain-go/drain/internal/probe"
	"github.com/drain-go/drain/internal/probe/report"
)

// A scenario is one situation at the signal, and the columns of its table.
type scenario struct {
	name    string
	about   string
	cfg     probe.Config
	columns []column
}

// scenarios are the scenarios of BENCHMARKS.md, in the order they run.
var scenarios = []scenario{
	{
		name:  "keepalive",
		about: "16 busy keep-alive clients on /fast, 3 GET /slow?ms=2000 in flight, SIGTERM after 1.8 s; the clients keep going until the process exits",
		cfg: probe.Config{
			Load:   probe.Load{Busy: 16, BusyPath: "/fast", Slow: 3, SlowPath: "/slow?ms=2000"},
			Warmup: 1800 * time.Millisecond,
		},
		columns: []column{
			count("lost on established conns", func(r *report.Report) int { return r.Total().Lost }),
			count("refused", func(r *report.Report) int { return r.Total().Refused }),
			count("slow completed (of 3)", (*report.Report).SlowCompleted),
			exitCodes(),
			millis("last response -> exit (ms)", (*report.Report).LastResponseToExit),
			millis("signal -> exit (ms)", signalToExit),
			rate("probe: busy req/s before signal", func(r *report.Report) float64 { return r.BusyRate }),
		},
	},
	{
		name:  "tail",
		about: "one GET /slow?ms=1100 sent 0.5 s before SIGTERM, so that it is answered 0.6 s after it, nothing else open: how long the server stays up once its last response is sent (net/http's Shutdown polls, its interval growing to 500 ms)",
		cfg: probe.Config{
			Load:   probe.Load{Slow: 1, SlowPath: "/slow?ms=1100"},
			Warmup: 500 * time.Millisecond,
		},
		columns: []column{
			count("slow completed (of 1)", (*report.Report).SlowCompleted),
			exitCodes(),
			millis("last response -> exit (ms)", (*report.Report).LastResponseToExit),
			millis("signal -> exit (ms)", signalToExit),
		},
	},
	{
		name:  "silent",
		about: "20 connected-but-silent sockets (as browsers preconnect), connected 1 s before SIGTERM, nothing in flight",
		cfg: probe.Config{
			Load:   probe.Load{Silent: 20},
			Warmup: time.Second,
		},
		columns: []column{
			millis("signal -> exit (ms)", signalToExit),
			exitCodes(),
			count("sockets open at signal", func(r *report.Report) int { return r.SilentOpen }),
		},
	},
	badClients("stalled1", "1 client that sent half a request header and stalled, 1 s before SIGTERM, nothing else open", 1, stalledHeader, 0, 0),
	badClients("stalled100", "100 clients that each sent half a request header and stalled, 1 s before SIGTERM, nothing else open", 100, stalledHeader, 0, 0),
	badClients("trickle1", "1 client trickling a request header a byte a second, from 1 s before SIGTERM, nothing else open", 1, stalledHeader, time.Second, 0),
	badClients("trickle100", "100 clients trickling request headers a byte a second, from 1 s before SIGTERM, nothing else open", 100, stalledHeader, time.Second, 0),
	badClients("stalled100+slow", "100 stalled clients as in stalled100, and 3 GET /slow?ms=2000 in flight at SIGTERM", 100, stalledHeader, 0, 3),
	badClients("trickle100+slow", "100 trickling clients as in trickle100, and 3 GET /slow?ms=2000 in flight at SIGTERM", 100, stalledHeader, time.Second, 3),
	{
		name:  "idle10k",
		about: "10,000 idle keep-alive connections, each answered once on /fast and then quiet for 1 s before SIGTERM",
		cfg: probe.Config{
			Load:   probe.Load{Idle: 10000, IdlePath: "/fast", DialConcurrency: 64},
			Warmup: time.Second,
		},
		columns: []column{
			millis("signal -> exit (ms)", signalToExit),
			exitCodes(),
			count("conns open at signal", func(r *report.Report) int { return r.IdleOpen }),
			count("lost", func(r *report.Report) int { return r.Total().Lost }),
		},
	},
}

// stalledHeader is the start of a request header that never ends.
const stalledHeader = "GET /fast HTTP/1.1\r\nHost: bench\r\nUser-Agent: stal"

// badClients is a scenario of n clients that begin a request header and
// do not finish it: they send send at once, or a byte every every, and
// with slow requests of 2 s in flight at the signal or none.
func badClients(name, about string, n int, send string, every time.Duration, slow int) scenario {
	s := scenario{
		name:  name,
		about: about,
		cfg: probe.Config{
			Load:   probe.Load{Silent: n, SilentSend: send, SilentEvery: every, Slow: slow, SlowPath: "/slow?ms=2000"},
			Warmup: time.Second,
		},
		columns: []column{
			exitCodes(),
			millis("signal -> exit (ms)", signalToExit),
		},
	}
	if slow > 0 {
		s.columns = append(s.columns,
			count(fmt.Sprintf("slow completed (of %d)", slow), (*report.Report).SlowCompleted),
			millis("last response -> exit (ms)", (*report.Report).LastResponseToExit))
	}
	return s
}

func scenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

// pick returns the scenarios named in the comma-separated list, in the
// order of scenarios.
func pick(list string) ([]scenario, error) {
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			want[name] = true
		}
	}
	var picked []scenario
	for _, s := range scenarios {
		if want[s.name] {
			picked = append(picked, s)
			delete(want, s.name)
		}
	}
	for name := range want {
		return nil, fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(scenarioNames(), ", "))
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("no scenario given")
	}
	return picked, nil
}

func signalToExit(r *report.Report) (time.Duration, bool) {
	return r.SignalToExit(), !r.SignalAt.IsZero()
}
