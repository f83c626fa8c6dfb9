package probe

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
)

// TestRunStreams opens WebSocket and SSE streams on a server that ends
// them cleanly as it shuts down, and on one that exits at once.
func TestRunStreams(t *testing.T) {
	tests := []struct {
		mode  string
		clean bool
	}{{"graceful", true}, {"abrupt", false}}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			rep, err := Run(context.Background(), Config{
				Server: childCommand(tt.mode),
				Load:   Load{WebSockets: 3, SSE: 2},
				Warmup: 300 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("report:\n%s", rep)
			if rep.WebSocketsOpen != 3 || rep.SSEOpen != 2 {
				t.Fatalf("opened %d WebSockets, %d SSE; want 3, 2", rep.WebSocketsOpen, rep.SSEOpen)
			}
			v := rep.Verdict
			cut := slices.ContainsFunc(v.Reasons, func(f report.Finding) bool { return f.Code == report.CodeStreamsCut })
			if tt.clean {
				if rep.WebSocket.Answered() != 3 || rep.CloseCodes[1001] != 3 || rep.SSE.Answered() != 2 {
					t.Errorf("websocket %+v (close codes %v), sse %+v; want all ended cleanly with 1001", rep.WebSocket, rep.CloseCodes, rep.SSE)
				}
				if !v.Pass {
					t.Errorf("verdict:\n%s", v)
				}
			} else {
				if rep.WebSocket.Lost != 3 || rep.SSE.Lost != 2 {
					t.Errorf("websocket %+v, sse %+v; want all cut", rep.WebSocket, rep.SSE)
				}
				if !cut {
					t.Errorf("verdict lacks %s:\n%s", report.CodeStreamsCut, v)
				}
			}
			if total := rep.Total(); total.Total() != 0 {
				t.Errorf("streams counted as requests: %+v", total)
			}
			n := 0
			for _, rec := range rep.Records {
				if rec.Kind != report.WebSocket && rec.Kind != report.SSE {
					continue
				}
				n++
				if !rec.Done.After(rep.SignalAt) || !rec.Sent.Before(rep.Start) {
					t.Errorf("%s: want opened before the load, ended after the signal", rec.Describe(rep.SignalAt))
				}
				if !tt.clean && rec.Reason != streamCut {
					t.Errorf("%s: want %q", rec.Describe(rep.SignalAt), streamCut)
				}
			}
			if n != 5 {
				t.Errorf("%d stream records, want 5", n)
			}
		})
	}
}

// TestRunStreamsRefused opens streams on paths that do not serve them.
func TestRunStreamsRefused(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Server: childCommand("graceful"),
		Load:   Load{WebSockets: 2, WebSocketPath: "/fast", SSE: 1, SSEPath: "/missing"},
		Warmup: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.WebSocketsOpen != 0 || rep.SSEOpen != 0 || rep.WebSocket.Refused != 2 || rep.SSE.Refused != 1 {
		t.Errorf("websocket %+v, sse %+v; want all refused", rep.WebSocket, rep.SSE)
	}
	for _, rec := range rep.Records {
		want := map[report.Kind]int{report.WebSocket: 200, report.SSE: 404}[rec.Kind]
		if rec.Reason != streamNotOpened || rec.Status != want {
			t.Errorf("%s: want %q, status %d", rec.Describe(rep.SignalAt), streamNotOpened, want)
		}
	}
}

// TestRunMethods sends POST requests to a handler that answers 400 to
// anything but a POST of the probe's body.
func TestRunMethods(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Server: childCommand("graceful"),
		Load: Load{
			Busy: 1, BusyPath: "/post", BusyMethod: "POST",
			Slow: 1, SlowPath: "/post", SlowMethod: "POST",
		},
		Warmup: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Busy.Status[2] == 0 || rep.Busy.Status[4] != 0 || rep.Slow.Status[2] != 1 {
		t.Errorf("busy %+v, slow %+v; want 2xx only", rep.Busy, rep.Slow)
	}
}
