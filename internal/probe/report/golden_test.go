package report

import (
	"encoding/json"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// goldenReport is a made-up report that sets every field the JSON form
// shows.
func goldenReport() *Report {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	tl := Timeline{Start: at(-20), Bucket: TimelineBucket, Buckets: []Counts{
		{Status: [6]int{2: 5}}, {Status: [6]int{2: 3, 5: 1}, Refused: 2}, {Lost: 1, Status: [6]int{0: 1, 1: 1, 3: 1, 4: 1}},
	}}
	return &Report{
		Addr: "127.0.0.1:8080", Command: []string{"./server", "-addr", ":8080"}, PID: 42,
		Load: Load{Busy: 2, BusyPath: "/fast", BusyMethod: "GET", Slow: 1, SlowPath: "/slow", SlowMethod: "POST",
			Idle: 1, IdlePath: "/i", Silent: 2, SilentSend: "GET / HTTP/1.1\r\n", SilentEvery: 1500 * time.Microsecond,
			WebSockets: 1, WebSocketPath: "/ws", SSE: 1, SSEPath: "/events", HTTP2: true, Streams: 4, TLS: true,
			GRPC: true, GRPCService: "svc", Watches: 3},
		Warmup: 20 * time.Millisecond, Signal: syscall.SIGTERM, SignalGroup: true,
		Start: at(-20), SignalAt: t0, SignalLag: 123456 * time.Nanosecond, LastResponse: at(12.3456789),
		Exit: proc.Exit{At: at(14), Code: -1, Signal: syscall.SIGTERM}, End: at(15),
		Busy: Counts{Status: [6]int{2: 8, 5: 1}, Refused: 2, Lost: 1, LostReused: 1}, Slow: Counts{Status: [6]int{2: 1}},
		Idle: Counts{Status: [6]int{0: 1, 1: 1, 3: 1, 4: 1}}, Silent: Counts{Aborted: 1},
		WebSocket: Counts{Status: [6]int{2: 1}}, SSE: Counts{Lost: 1}, Watch: Counts{Status: [6]int{2: 2}, Lost: 1},
		lostBy:   map[Reason]int{Reason("closed before response"): 1},
		IdleOpen: 1, SilentOpen: 2, IdleClosed: []time.Time{at(13)}, SilentClosed: []time.Time{at(1), at(13.9)},
		IdleClosedBeforeExit: 1, SilentClosedBeforeExit: 1,
		WebSocketsOpen: 1, SSEOpen: 1, WatchesOpen: 3, CloseCodes: map[int]int{1000: 1},
		BusyRate: 450.04, connRefusedBefore: 0, busyOKBefore: 8, LagP99: 1500 * time.Microsecond, LagMax: 3 * time.Millisecond,
		QuietClosedAt:   at(11),
		SentAfterSignal: Counts{Status: [6]int{2: 3}, Refused: 2},
		Timeline:        tl,
		Records: []Record{
			{Kind: Busy, Client: 1, Seq: 7, Outcome: Lost, Reason: Reason("closed before response"), Sent: at(1), Done: at(2), Err: errors.New("unexpected EOF")},
			{Kind: Slow, Client: 0, Seq: 1, Outcome: Answered, Status: 200, Sent: at(-19), Done: at(1.5)},
			{Kind: WebSocket, Client: 0, Outcome: Answered, CloseCode: 1000, Sent: at(-20), Done: at(3)},
			{Kind: Silent, Client: 1, Outcome: Aborted, Reason: Reason("probe stopped"), Sent: at(-20), Err: os.ErrDeadlineExceeded},
		},
		Dropped: 2,
		Output:  "bye <now>\n",
		Verdict: Verdict{Reasons: []Finding{{"x", "y", "z"}}},
	}
}

// goldenJSON is goldenReport's JSON form, byte for byte: drainprobe --json
// users read these names and values.
const goldenJSON = `{"target":"127.0.0.1:8080","command":["./server","-addr",":8080"],"signal":"SIGTERM","signal_group":true,"origin":"signal","load":{"busy":2,"busy_path":"/fast","busy_method":"GET","slow":1,"slow_path":"/slow","slow_method":"POST","idle":1,"idle_path":"/i","silent":2,"silent_send":"GET / HTTP/1.1\r\n","silent_every_ms":1.5,"websockets":1,"websocket_path":"/ws","sse":1,"sse_path":"/events","warmup_ms":20,"http2":true,"streams":4,"grpc":true,"grpc_service":"svc","watches":3,"tls":true},"times_ms":{"start":-20,"signal":0,"last_response":12.346,"quiet_closed":11,"exit":14},"durations_ms":{"signal_to_exit":14,"last_response_to_exit":1.654},"exit":{"code":-1,"signal":"SIGTERM","killed":false,"shell_code":143,"text":"143 (SIGTERM)"},"counts":{"answered":{"1xx":1,"2xx":9,"3xx":1,"4xx":1,"5xx":1,"other":1},"refused":2,"lost":1,"lost_reused":1,"aborted":1},"counts_sent_after_signal":{"answered":{"1xx":0,"2xx":3,"3xx":0,"4xx":0,"5xx":0,"other":0},"refused":2,"lost":0,"lost_reused":0,"aborted":0},"by_kind":{"busy":{"answered":9,"refused":2,"lost":1,"aborted":0},"slow":{"answered":1,"refused":0,"lost":0,"aborted":0},"idle":{"answered":4,"refused":0,"lost":0,"aborted":0},"silent":{"answered":0,"refused":0,"lost":0,"aborted":1},"websocket":{"answered":1,"refused":0,"lost":0,"aborted":0},"sse":{"answered":0,"refused":0,"lost":1,"aborted":0},"watch":{"answered":2,"refused":0,"lost":1,"aborted":0}},"slow":{"sent":1,"completed":1},"held":{"idle_open":1,"idle_closed_before_exit":1,"silent_open":2,"silent_closed_before_exit":1,"idle_closed_ms":[13],"silent_closed_ms":[1,13.9]},"streams":{"websocket":{"open":1,"closed_cleanly":1,"cut":0,"close_codes":{"1000":1,"1001":0}},"sse":{"open":1,"closed_cleanly":0,"cut":1},"watch":{"open":3,"closed_cleanly":2,"cut":1}},"probe":{"busy_rate":450,"signal_lag_ms":0.123,"lag_p99_ms":1.5,"lag_max_ms":3,"kept_up":true},"timeline":{"bucket_ms":10,"start_ms":-20,"buckets":[{"1xx":0,"2xx":5,"3xx":0,"4xx":0,"5xx":0,"other":0,"refused":0,"lost":0},{"1xx":0,"2xx":3,"3xx":0,"4xx":0,"5xx":1,"other":0,"refused":2,"lost":0},{"1xx":1,"2xx":0,"3xx":1,"4xx":1,"5xx":0,"other":1,"refused":0,"lost":1}]},"notable":[{"kind":"silent","client":1,"seq":0,"outcome":"aborted","reason":"probe stopped","status":0,"sent_ms":-20,"done_ms":null,"error":"i/o timeout"},{"kind":"slow","client":0,"seq":1,"outcome":"answered","reason":"","status":200,"sent_ms":-19,"done_ms":1.5,"error":""},{"kind":"busy","client":1,"seq":7,"outcome":"lost","reason":"closed before response","status":0,"sent_ms":1,"done_ms":2,"error":"unexpected EOF"},{"kind":"websocket","client":0,"seq":0,"outcome":"answered","reason":"","status":0,"sent_ms":-20,"done_ms":3,"error":""}],"notable_dropped":2,"verdict":{"pass":false,"reasons":[{"code":"x","text":"y","advice":"z"}],"warnings":[]},"output_tail":"bye \u003cnow\u003e\n"}`

// goldenZeroJSON is the JSON form of a zero report: nulls and zeros,
// empty lists rather than null.
const goldenZeroJSON = `{"target":"","command":[],"signal":"","origin":"start","load":{"busy":0,"busy_path":"","busy_method":"","slow":0,"slow_path":"","slow_method":"","idle":0,"idle_path":"","silent":0,"websockets":0,"websocket_path":"","sse":0,"sse_path":"","warmup_ms":0},"times_ms":{"start":null,"signal":null,"last_response":null,"quiet_closed":null,"exit":null},"durations_ms":{"signal_to_exit":null,"last_response_to_exit":null},"exit":null,"counts":{"answered":{"1xx":0,"2xx":0,"3xx":0,"4xx":0,"5xx":0,"other":0},"refused":0,"lost":0,"lost_reused":0,"aborted":0},"counts_sent_after_signal":null,"by_kind":{"busy":{"answered":0,"refused":0,"lost":0,"aborted":0},"slow":{"answered":0,"refused":0,"lost":0,"aborted":0},"idle":{"answered":0,"refused":0,"lost":0,"aborted":0},"silent":{"answered":0,"refused":0,"lost":0,"aborted":0},"websocket":{"answered":0,"refused":0,"lost":0,"aborted":0},"sse":{"answered":0,"refused":0,"lost":0,"aborted":0},"watch":{"answered":0,"refused":0,"lost":0,"aborted":0}},"slow":{"sent":0,"completed":0},"held":{"idle_open":0,"idle_closed_before_exit":0,"silent_open":0,"silent_closed_before_exit":0,"idle_closed_ms":[],"silent_closed_ms":[]},"streams":{"websocket":{"open":0,"closed_cleanly":0,"cut":0,"close_codes":{"1001":0}},"sse":{"open":0,"closed_cleanly":0,"cut":0},"watch":{"open":0,"closed_cleanly":0,"cut":0}},"probe":{"busy_rate":0,"signal_lag_ms":0,"lag_p99_ms":0,"lag_max_ms":0,"kept_up":true},"timeline":{"bucket_ms":10,"start_ms":null,"buckets":[]},"notable":[],"notable_dropped":0,"verdict":{"pass":false,"reasons":[],"warnings":[]},"output_tail":""}`

// TestJSONGolden checks the JSON form of a report that sets every field,
// byte for byte.
func TestJSONGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		rep  *Report
		want string
	}{
		{"every field", goldenReport(), goldenJSON},
		{"zero", &Report{}, goldenZeroJSON},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.rep)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != c.want {
				t.Errorf("JSON:\n%s\nwant:\n%s", b, c.want)
			}
		})
	}
}
