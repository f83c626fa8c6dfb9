package probe

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/report"
)

// jsonFields are the fields of the JSON report, by path: what
// cmd/drainprobe and its users read.
var jsonFields = map[string][]string{
	"": {"target", "command", "signal", "origin", "load", "times_ms", "durations_ms", "exit", "counts",
		"counts_sent_after_signal", "by_kind", "slow", "held", "streams", "probe", "timeline", "notable", "notable_dropped", "verdict", "output_tail"},
	"load": {"busy", "busy_path", "busy_method", "slow", "slow_path", "slow_method", "idle", "idle_path", "silent",
		"websockets", "websocket_path", "sse", "sse_path", "warmup_ms"},
	"times_ms":                          {"start", "signal", "last_response", "quiet_closed", "exit"},
	"durations_ms":                      {"signal_to_exit", "last_response_to_exit"},
	"exit":                              {"code", "signal", "killed", "shell_code", "text"},
	"counts":                            {"answered", "refused", "lost", "lost_reused", "aborted"},
	"counts.answered":                   {"1xx", "2xx", "3xx", "4xx", "5xx", "other"},
	"counts_sent_after_signal":          {"answered", "refused", "lost", "lost_reused", "aborted"},
	"counts_sent_after_signal.answered": {"1xx", "2xx", "3xx", "4xx", "5xx", "other"},
	"by_kind":                           {"busy", "slow", "idle", "silent", "websocket", "sse", "watch"},
	"by_kind.busy":                      {"answered", "refused", "lost", "aborted"},
	"by_kind.slow":                      {"answered", "refused", "lost", "aborted"},
	"by_kind.idle":                      {"answered", "refused", "lost", "aborted"},
	"by_kind.silent":                    {"answered", "refused", "lost", "aborted"},
	"by_kind.websocket":                 {"answered", "refused", "lost", "aborted"},
	"by_kind.sse":                       {"answered", "refused", "lost", "aborted"},
	"by_kind.watch":                     {"answered", "refused", "lost", "aborted"},
	"slow":                              {"sent", "completed"},
	"held":                              {"idle_open", "idle_closed_before_exit", "silent_open", "silent_closed_before_exit", "idle_closed_ms", "silent_closed_ms"},
	"streams":                           {"websocket", "sse", "watch"},
	"streams.websocket":                 {"open", "closed_cleanly", "cut", "close_codes"},
	"streams.sse":                       {"open", "closed_cleanly", "cut"},
	"streams.watch":                     {"open", "closed_cleanly", "cut"},
	"probe":                             {"busy_rate", "signal_lag_ms", "lag_p99_ms", "lag_max_ms", "kept_up"},
	"timeline":                          {"bucket_ms", "start_ms", "buckets"},
	"timeline.buckets":                  {"1xx", "2xx", "3xx", "4xx", "5xx", "other", "refused", "lost"},
	"notable":                           {"kind", "client", "seq", "outcome", "reason", "status", "sent_ms", "done_ms", "error"},
	"verdict":                           {"pass", "reasons", "warnings"},
	"verdict.reasons":                   {"code", "text", "advice"},
}

// TestJSON runs the probe, encodes its report, and checks the JSON's
// field names and its values against the report.
func TestJSON(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Server: childCommand("abrupt"),
		Load:   Load{Busy: 2, Slow: 1, SlowPath: "/slow?ms=5000", Idle: 2, Silent: 2, WebSockets: 1, SSE: 1},
		Warmup: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, m := encode(t, rep)

	get := func(path ...string) any {
		var x any = m
		for _, p := range path {
			x = x.(map[string]any)[p]
		}
		return x
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"origin"}, "signal"},
		{[]string{"signal"}, "SIGTERM"},
		{[]string{"times_ms", "signal"}, 0.0},
		{[]string{"exit", "text"}, "0"},
		{[]string{"load", "busy_method"}, "GET"},
		{[]string{"load", "warmup_ms"}, 300.0},
		{[]string{"slow", "sent"}, 1.0},
		{[]string{"slow", "completed"}, 0.0},
		{[]string{"held", "idle_open"}, 2.0},
		{[]string{"streams", "websocket", "cut"}, 1.0},
		{[]string{"streams", "websocket", "close_codes", "1001"}, 0.0},
		{[]string{"streams", "sse", "cut"}, 1.0},
		{[]string{"timeline", "bucket_ms"}, 10.0},
		{[]string{"counts", "lost"}, float64(rep.Total().Lost)},
		{[]string{"counts_sent_after_signal", "lost"}, float64(rep.SentAfterSignal.Lost)},
		{[]string{"counts_sent_after_signal", "refused"}, float64(rep.SentAfterSignal.Refused)},
		{[]string{"verdict", "pass"}, false},
	} {
		if got := get(c.path...); got != c.want {
			t.Errorf("%v = %v, want %v", c.path, got, c.want)
		}
	}
	if start := get("times_ms", "start").(float64); start > -300 {
		t.Errorf("start at %vms, want before the signal by the warm-up", start)
	}
	if n := len(get("timeline", "buckets").([]any)); n < 30 {
		t.Errorf("%d buckets, want at least the warm-up's 30", n)
	}
}

// TestJSONNoSignal checks the nulls of a run without signal or exit.
func TestJSONNoSignal(t *testing.T) {
	t0 := time.Now()
	rep := &report.Report{Addr: "127.0.0.1:80", Target: "127.0.0.1:80", Start: t0, End: t0.Add(time.Second)}
	rep.Verdict = rep.Judge(0)
	_, m := encode(t, rep)
	times := m["times_ms"].(map[string]any)
	if m["origin"] != "start" || m["exit"] != nil || m["signal"] != "" || times["start"] != 0.0 || times["signal"] != nil || times["exit"] != nil {
		t.Errorf("origin %v, exit %v, signal %q, times %v; want the start as origin and nulls", m["origin"], m["exit"], m["signal"], times)
	}
	if cmd, ok := m["command"].([]any); !ok || len(cmd) != 0 {
		t.Errorf("command %v, want []", m["command"])
	}
	if w := m["verdict"].(map[string]any)["warnings"].([]any); len(w) != 1 {
		t.Errorf("warnings %v, want no-signal", w)
	}
}

// encode encodes the report and its verdict, checks the JSON's field
// names, and returns it, and it decoded as a map.
func encode(t *testing.T, rep *report.Report) ([]byte, map[string]any) {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	checkFields(t, "", m)
	return b, m
}

// checkFields checks the field names of the object m at path, and of the
// objects in it.
func checkFields(t *testing.T, path string, m map[string]any) {
	t.Helper()
	want, ok := jsonFields[path]
	if ok {
		got := slices.Sorted(maps.Keys(m))
		if !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%q: fields %q, want %q", path, got, want)
		}
	}
	for k, v := range m {
		sub := k
		if path != "" {
			sub = path + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			checkFields(t, sub, v)
		case []any:
			for _, e := range v {
				if o, ok := e.(map[string]any); ok {
					checkFields(t, sub, o)
				}
			}
		}
	}
}
