package report

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// MarshalJSON encodes the report and its verdict for machines. All times are in
// milliseconds, relative to the signal ("origin": "signal"), negative
// before it, or to the load's start if no signal was sent ("origin":
// "start"); null when unknown. Nothing is left out: a missing value is
// null, zero or empty. The schema, by example:
//
//	{
//	  "target": "127.0.0.1:40123",
//	  "command": ["./server", "-addr", ":40123"],
//	  "signal": "SIGTERM",
//	  "origin": "signal",
//	  "load": {"busy": 16, "busy_path": "/fast", "busy_method": "GET", "slow": 3, "slow_path": "/slow?ms=2000", "slow_method": "GET",
//	           "idle": 0, "idle_path": "/fast", "silent": 20, "websockets": 0, "websocket_path": "/ws", "sse": 0, "sse_path": "/events", "warmup_ms": 1800},
//	  "times_ms": {"start": -1800.0, "signal": 0.0, "last_response": 204.1, "quiet_closed": null, "exit": 205.9},
//	  "durations_ms": {"signal_to_exit": 205.9, "last_response_to_exit": 1.8},
//	  "exit": {"code": 0, "signal": "", "killed": false, "shell_code": 0, "text": "0"},
//	  "counts": {"answered": {"1xx": 0, "2xx": 100000, "3xx": 0, "4xx": 0, "5xx": 0, "other": 0}, "refused": 16, "lost": 0, "lost_reused": 0, "aborted": 0},
//	  "by_kind": {"busy": {"answered": 99997, "refused": 16, "lost": 0, "aborted": 0}, "slow": {...}, "idle": {...}, "silent": {...}, "websocket": {...}, "sse": {...}},
//	  "slow": {"sent": 3, "completed": 3},
//	  "held": {"idle_open": 0, "idle_closed_before_exit": 0, "silent_open": 20, "silent_closed_before_exit": 20},
//	  "streams": {"websocket": {"open": 0, "closed_cleanly": 0, "cut": 0, "close_codes": {"1001": 0}}, "sse": {"open": 0, "closed_cleanly": 0, "cut": 0}},
//	  "probe": {"busy_rate": 52000.0, "signal_lag_ms": 0.1, "lag_p99_ms": 1.2, "lag_max_ms": 3.4, "kept_up": true},
//	  "timeline": {"bucket_ms": 10, "start_ms": -1800.0, "buckets": [{"1xx": 0, "2xx": 512, "3xx": 0, "4xx": 0, "5xx": 0, "other": 0, "refused": 0, "lost": 0}]},
//	  "notable": [{"kind": "busy", "client": 3, "seq": 57, "outcome": "lost", "reason": "closed before response", "status": 0, "sent_ms": 0.4, "done_ms": 0.6, "error": "unexpected EOF"}],
//	  "notable_dropped": 0,
//	  "verdict": {"pass": false, "reasons": [{"code": "lost", "text": "16 requests lost on established connections (16 closed before response)", "advice": "Requests lost on reused keep-alive connections mean ..."}], "warnings": []},
//	  "output_tail": "last few KB of the server's output"
//	}
//
// In detail:
//   - "target" is the address loaded; "command" the server's command
//     ([] in target mode); "signal" the name of the signal sent ("" if
//     none), "signal_group" true if it went to the process group.
//   - "exit" is null when no process exited; its "code" and "shell_code"
//     are -1 when unknown ([Exit.Unknown]), its "signal" the name of the
//     signal that ended the process ("" if none).
//   - "counts_sent_after_signal" counts the requests sent after the signal
//     (null without one); the rest of "counts" were sent before it.
//   - "counts" and "timeline" count requests, not streams; "by_kind"
//     counts both, a stream's "answered" meaning it ended cleanly.
//   - "slow": "sent" slow requests, "completed" answered with a 2xx status.
//   - "held": open at the start, and closed by the server before the exit;
//     "idle_closed_ms" and "silent_closed_ms" when each was seen closed
//     (by the server, or by the kernel at the exit);
//     "times_ms"."quiet_closed" is when the probe closed those the server
//     still held ([Report.QuietClosedAt]), null if it did not.
//   - "streams": "open" at the start, "closed_cleanly", "cut" (lost);
//     "close_codes" counts the WebSocket close codes received, always
//     with "1001".
//   - "timeline" buckets are "bucket_ms" wide, the first beginning at
//     "start_ms" (the load's start), up to the end of the load.
//   - "notable" lists the records of note in the order they ended.
//   - In an upgrade run only (probe.Config.Upgrades): "load"."conns" (also
//     when set in another run), "by_kind"."conn" likewise; "upgrade" has
//     the run's "signal", "interval_ms", "timeout_ms" and "pidfile";
//     "upgrades" lists each upgrade: "n", "signal_ms", "signal_lag_ms",
//     "old_pid", "new_pid" (0 if none took over), "new_ms" and
//     "pid_change_ms" (when the PID file named it; null if never),
//     "old_exit" and "old_exit_ms" (null if it had not exited),
//     "new_exit" and "new_exit_ms" (the new process died while serving;
//     null if not), "error", and from its signal to the next "refused",
//     "lost", "lost_reused", "slow_sent" and "slow_completed".
func (r *Report) MarshalJSON() ([]byte, error) {
	origin, originName := r.origin()
	at := r.at
	type load struct {
		Busy          int     `json:"busy"`
		BusyPath      string  `json:"busy_path"`
		BusyMethod    string  `json:"busy_method"`
		Conns         int     `json:"conns,omitempty"`
		Slow          int     `json:"slow"`
		SlowPath      string  `json:"slow_path"`
		SlowMethod    string  `json:"slow_method"`
		Idle          int     `json:"idle"`
		IdlePath      string  `json:"idle_path"`
		Silent        int     `json:"silent"`
		SilentSend    string  `json:"silent_send,omitempty"`
		SilentEveryMs float64 `json:"silent_every_ms,omitempty"`
		WebSockets    int     `json:"websockets"`
		WebSocketPath string  `json:"websocket_path"`
		SSE           int     `json:"sse"`
		SSEPath       string  `json:"sse_path"`
		WarmupMs      float64 `json:"warmup_ms"`
		HTTP2         bool    `json:"http2,omitempty"`
		Streams       int     `json:"streams,omitempty"`
		GRPC          bool    `json:"grpc,omitempty"`
		GRPCService   string  `json:"grpc_service,omitempty"`
		Watches       int     `json:"watches,omitempty"`
		TLS           bool    `json:"tls,omitempty"`
	}
	type exit struct {
		Code      int    `json:"code"`
		Signal    string `json:"signal"`
		Killed    bool   `json:"killed"`
		ShellCode int    `json:"shell_code"`
		Text      string `json:"text"`
	}
	type kind struct {
		Answered int `json:"answered"`
		Refused  int `json:"refused"`
		Lost     int `json:"lost"`
		Aborted  int `json:"aborted"`
	}
	byKind := func(c Counts) kind { return kind{c.Answered(), c.Refused, c.Lost, c.Aborted} }
	type stream struct {
		Open          int             `json:"open"`
		ClosedCleanly int             `json:"closed_cleanly"`
		Cut           int             `json:"cut"`
		CloseCodes    *map[string]int `json:"close_codes,omitempty"`
	}
	type bucket struct {
		jsonClasses
		Refused int `json:"refused"`
		Lost    int `json:"lost"`
	}
	type upgrade struct {
		N             int      `json:"n"`
		SignalMs      *float64 `json:"signal_ms"`
		SignalLagMs   float64  `json:"signal_lag_ms"`
		OldPID        int      `json:"old_pid"`
		NewPID        int      `json:"new_pid"`
		NewMs         *float64 `json:"new_ms"`
		PIDChangeMs   *float64 `json:"pid_change_ms"`
		OldExit       *exit    `json:"old_exit"`
		OldExitMs     *float64 `json:"old_exit_ms"`
		NewExit       *exit    `json:"new_exit"`
		NewExitMs     *float64 `json:"new_exit_ms"`
		Error         string   `json:"error"`
		Refused       int      `json:"refused"`
		Lost          int      `json:"lost"`
		LostReused    int      `json:"lost_reused"`
		SlowSent      int      `json:"slow_sent"`
		SlowCompleted int      `json:"slow_completed"`
	}
	type upgradeRun struct {
		Signal     string  `json:"signal"`
		IntervalMs float64 `json:"interval_ms"`
		TimeoutMs  float64 `json:"timeout_ms"`
		PIDFile    string  `json:"pidfile"`
	}
	exitOf := func(e proc.Exit) *exit {
		if e.At.IsZero() {
			return nil
		}
		x := &exit{Code: e.Code, Killed: e.Killed, ShellCode: e.ShellCode(), Text: e.String()}
		if e.Signal != nil {
			x.Signal = proc.SignalName(e.Signal)
		}
		return x
	}
	type record struct {
		Kind    string   `json:"kind"`
		Client  int      `json:"client"`
		Seq     int      `json:"seq"`
		Outcome string   `json:"outcome"`
		Reason  string   `json:"reason"`
		Status  int      `json:"status"`
		SentMs  *float64 `json:"sent_ms"`
		DoneMs  *float64 `json:"done_ms"`
		Error   string   `json:"error"`
	}
	var j struct {
		Target      string   `json:"target"`
		Command     []string `json:"command"`
		Signal      string   `json:"signal"`
		SignalGroup bool     `json:"signal_group,omitempty"`
		Origin      string   `json:"origin"`
		Load        load     `json:"load"`
		Times       struct {
			Start        *float64 `json:"start"`
			Signal       *float64 `json:"signal"`
			LastResponse *float64 `json:"last_response"`
			QuietClosed  *float64 `json:"quiet_closed"`
			Exit         *float64 `json:"exit"`
		} `json:"times_ms"`
		Durations struct {
			SignalToExit       *float64 `json:"signal_to_exit"`
			LastResponseToExit *float64 `json:"last_response_to_exit"`
		} `json:"durations_ms"`
		Exit      *exit       `json:"exit"`
		Counts    jsonCounts  `json:"counts"`
		SentAfter *jsonCounts `json:"counts_sent_after_signal"`
		ByKind    struct {
			Busy      kind  `json:"busy"`
			Conn      *kind `json:"conn,omitempty"`
			Slow      kind  `json:"slow"`
			Idle      kind  `json:"idle"`
			Silent    kind  `json:"silent"`
			WebSocket kind  `json:"websocket"`
			SSE       kind  `json:"sse"`
			Watch     kind  `json:"watch"`
		} `json:"by_kind"`
		Slow struct {
			Sent      int `json:"sent"`
			Completed int `json:"completed"`
		} `json:"slow"`
		Held struct {
			IdleOpen               int       `json:"idle_open"`
			IdleClosedBeforeExit   int       `json:"idle_closed_before_exit"`
			SilentOpen             int       `json:"silent_open"`
			SilentClosedBeforeExit int       `json:"silent_closed_before_exit"`
			IdleClosedMs           []float64 `json:"idle_closed_ms"`
			SilentClosedMs         []float64 `json:"silent_closed_ms"`
		} `json:"held"`
		Streams struct {
			WebSocket stream `json:"websocket"`
			SSE       stream `json:"sse"`
			Watch     stream `json:"watch"`
		} `json:"streams"`
		Probe struct {
			BusyRate    float64 `json:"busy_rate"`
			SignalLagMs float64 `json:"signal_lag_ms"`
			LagP99Ms    float64 `json:"lag_p99_ms"`
			LagMaxMs    float64 `json:"lag_max_ms"`
			KeptUp      bool    `json:"kept_up"`
		} `json:"probe"`
		Timeline struct {
			BucketMs int      `json:"bucket_ms"`
			StartMs  *float64 `json:"start_ms"`
			Buckets  []bucket `json:"buckets"`
		} `json:"timeline"`
		Notable        []record    `json:"notable"`
		NotableDropped int         `json:"notable_dropped"`
		Upgrade        *upgradeRun `json:"upgrade,omitempty"`
		Upgrades       []upgrade   `json:"upgrades,omitempty"`
		Verdict        Verdict     `json:"verdict"`
		OutputTail     string      `json:"output_tail"`
	}

	l := r.Load
	j.Target, j.Command, j.Origin = r.Addr, r.Command, originName
	if j.Command == nil {
		j.Command = []string{}
	}
	if !r.SignalAt.IsZero() && r.Signal != nil {
		j.Signal, j.SignalGroup = proc.SignalName(r.Signal), r.SignalGroup
	}
	j.Load = load{
		Busy: l.Busy, BusyPath: l.BusyPath, BusyMethod: l.BusyMethod,
		Slow: l.Slow, SlowPath: l.SlowPath, SlowMethod: l.SlowMethod,
		Idle: l.Idle, IdlePath: l.IdlePath, Silent: l.Silent,
		SilentSend: l.SilentSend, SilentEveryMs: round(ms(l.SilentEvery)),
		WebSockets: l.WebSockets, WebSocketPath: l.WebSocketPath,
		SSE: l.SSE, SSEPath: l.SSEPath,
		WarmupMs: round(ms(r.Warmup)),
	}
	j.Load.Conns = l.Conns
	if l.HTTP2 {
		j.Load.HTTP2, j.Load.Streams, j.Load.TLS = true, l.Streams, l.TLS
	}
	if l.GRPC {
		j.Load.GRPC, j.Load.GRPCService, j.Load.Watches = true, l.GRPCService, l.Watches
	}

	j.Times.Start, j.Times.Signal, j.Times.LastResponse = at(r.Start), at(r.SignalAt), at(r.LastResponse)
	j.Times.QuietClosed, j.Times.Exit = at(r.QuietClosedAt), at(r.Exit.At)
	if !r.SignalAt.IsZero() && !r.Exit.At.IsZero() {
		j.Durations.SignalToExit = msPtr(r.SignalToExit())
	}
	if d, ok := r.LastResponseToExit(); ok { // never negative
		j.Durations.LastResponseToExit = msPtr(d)
	}
	j.Exit = exitOf(r.Exit)

	j.Counts = counts(r.Total())
	if !r.SignalAt.IsZero() {
		after := counts(r.SentAfterSignal)
		j.SentAfter = &after
	}
	k := &j.ByKind
	k.Busy, k.Slow, k.Idle, k.Silent = byKind(r.Busy), byKind(r.Slow), byKind(r.Idle), byKind(r.Silent)
	k.WebSocket, k.SSE, k.Watch = byKind(r.WebSocket), byKind(r.SSE), byKind(r.Watch)
	if l.Conns > 0 {
		conn := byKind(r.Conn)
		k.Conn = &conn
	}
	j.Slow.Sent, j.Slow.Completed = r.Slow.Total(), r.SlowCompleted()
	h := &j.Held
	h.IdleOpen, h.IdleClosedBeforeExit = r.IdleOpen, r.IdleClosedBeforeExit
	h.SilentOpen, h.SilentClosedBeforeExit = r.SilentOpen, r.SilentClosedBeforeExit
	h.IdleClosedMs, h.SilentClosedMs = sinceOrigin(r.IdleClosed, origin), sinceOrigin(r.SilentClosed, origin)
	codes := map[string]int{"1001": 0}
	for code, n := range r.CloseCodes {
		codes[strconv.Itoa(code)] += n
	}
	j.Streams.WebSocket = stream{r.WebSocketsOpen, r.WebSocket.Answered(), r.WebSocket.Lost, &codes}
	j.Streams.SSE = stream{r.SSEOpen, r.SSE.Answered(), r.SSE.Lost, nil}
	j.Streams.Watch = stream{r.WatchesOpen, r.Watch.Answered(), r.Watch.Lost, nil}

	p := &j.Probe
	p.BusyRate = math.Round(r.BusyRate*10) / 10
	p.SignalLagMs, p.LagP99Ms, p.LagMaxMs = round(ms(r.SignalLag)), round(ms(r.LagP99)), round(ms(r.LagMax))
	p.KeptUp = r.KeptUp()

	j.Timeline.BucketMs = int(TimelineBucket / time.Millisecond)
	j.Timeline.StartMs = at(r.Timeline.Start)
	j.Timeline.Buckets = make([]bucket, len(r.Timeline.Buckets))
	for i, b := range r.Timeline.Buckets {
		j.Timeline.Buckets[i] = bucket{classes(b), b.Refused, b.Lost}
	}
	recs := slices.Clone(r.Records)
	slices.SortStableFunc(recs, func(a, b Record) int { return a.Done.Compare(b.Done) })
	j.Notable = make([]record, len(recs))
	for i, rec := range recs {
		j.Notable[i] = record{
			Kind: rec.Kind.String(), Client: rec.Client, Seq: rec.Seq,
			Outcome: rec.Outcome.String(), Reason: string(rec.Reason), Status: rec.Status,
			SentMs: at(rec.Sent), DoneMs: at(rec.Done), Error: errText(rec.Err),
		}
	}
	j.NotableDropped = r.Dropped
	if r.UpgradeSignal != nil {
		j.Upgrade = &upgradeRun{proc.SignalName(r.UpgradeSignal), round(ms(r.UpgradeInterval)), round(ms(r.UpgradeTimeout)), r.PIDFile}
		j.Upgrades = make([]upgrade, len(r.Upgrades))
		for i, u := range r.Upgrades {
			ju := upgrade{
				N: i + 1, SignalMs: at(u.SignalAt), SignalLagMs: round(ms(u.SignalLag)),
				OldPID: u.OldPID, NewPID: u.NewPID, NewMs: at(u.NewAt),
				OldExit: exitOf(u.OldExit), OldExitMs: at(u.OldExit.At), NewExit: exitOf(u.NewExit), NewExitMs: at(u.NewExit.At),
				Error: u.Err, Refused: u.Refused, Lost: u.Lost, LostReused: u.LostReused, SlowSent: u.Slow, SlowCompleted: u.SlowCompleted,
			}
			if !u.NewAt.IsZero() {
				ju.PIDChangeMs = msPtr(u.NewAt.Sub(u.SignalAt))
			}
			j.Upgrades[i] = ju
		}
	}

	j.Verdict, j.OutputTail = r.Verdict, r.Output
	if j.Verdict.Reasons == nil {
		j.Verdict.Reasons = []Finding{}
	}
	if j.Verdict.Warnings == nil {
		j.Verdict.Warnings = []Finding{}
	}
	return json.Marshal(j)
}

// jsonClasses counts answered requests by status class.
type jsonClasses struct {
	C1xx  int `json:"1xx"`
	C2xx  int `json:"2xx"`
	C3xx  int `json:"3xx"`
	C4xx  int `json:"4xx"`
	C5xx  int `json:"5xx"`
	Other int `json:"other"`
}

func classes(c Counts) jsonClasses {
	s := c.Status
	return jsonClasses{s[1], s[2], s[3], s[4], s[5], s[0]}
}

// jsonCounts counts requests by outcome.
type jsonCounts struct {
	Answered   jsonClasses `json:"answered"`
	Refused    int         `json:"refused"`
	Lost       int         `json:"lost"`
	LostReused int         `json:"lost_reused"`
	Aborted    int         `json:"aborted"`
}

func counts(c Counts) jsonCounts {
	return jsonCounts{Answered: classes(c), Refused: c.Refused, Lost: c.Lost, LostReused: c.LostReused, Aborted: c.Aborted}
}

// origin is when times are counted from: the signal, or the load's start
// if no signal was sent.
func (r *Report) origin() (time.Time, string) {
	if !r.signalled() {
		return r.Start, "start"
	}
	return r.SignalAt, "signal"
}

// signalled reports whether the signal was sent: times are then from it,
// else from the load's start.
func (r *Report) signalled() bool { return !r.SignalAt.IsZero() }

// at returns t in ms from the origin, rounded to the microsecond, or nil
// if t is unknown.
func (r *Report) at(t time.Time) *float64 {
	origin, _ := r.origin()
	if t.IsZero() || origin.IsZero() {
		return nil
	}
	return msPtr(t.Sub(origin))
}

// sinceOrigin returns ts in ms from origin, never nil.
func sinceOrigin(ts []time.Time, origin time.Time) []float64 {
	ms := make([]float64, len(ts))
	for i, t := range ts {
		ms[i] = round(float64(t.Sub(origin)) / float64(time.Millisecond))
	}
	return ms
}

// round rounds milliseconds to the microsecond.
func round(ms float64) float64 { return math.Round(ms*1000) / 1000 }

func msPtr(d time.Duration) *float64 {
	v := round(ms(d))
	return &v
}
