package main

import "encoding/json"

// A view is the probe's JSON report, as the text and HTML renderers read
// it: the page shows exactly what --json prints.
type view struct {
	// Label names the server for people, when its command line does not.
	Label string `json:"-"`

	Target  string   `json:"target"`
	Command []string `json:"command"`
	Signal  string   `json:"signal"`
	Origin  string   `json:"origin"`
	Load    struct {
		Busy          int     `json:"busy"`
		BusyPath      string  `json:"busy_path"`
		BusyMethod    string  `json:"busy_method"`
		Slow          int     `json:"slow"`
		SlowPath      string  `json:"slow_path"`
		SlowMethod    string  `json:"slow_method"`
		Idle          int     `json:"idle"`
		IdlePath      string  `json:"idle_path"`
		Silent        int     `json:"silent"`
		WebSockets    int     `json:"websockets"`
		WebSocketPath string  `json:"websocket_path"`
		SSE           int     `json:"sse"`
		SSEPath       string  `json:"sse_path"`
		WarmupMS      float64 `json:"warmup_ms"`
	} `json:"load"`
	Times struct {
		Start        *float64 `json:"start"`
		Signal       *float64 `json:"signal"`
		LastResponse *float64 `json:"last_response"`
		Exit         *float64 `json:"exit"`
	} `json:"times_ms"`
	Durations struct {
		SignalToExit       *float64 `json:"signal_to_exit"`
		LastResponseToExit *float64 `json:"last_response_to_exit"`
	} `json:"durations_ms"`
	Exit struct {
		Code      int    `json:"code"`
		Signal    string `json:"signal"`
		Killed    bool   `json:"killed"`
		ShellCode int    `json:"shell_code"`
		Text      string `json:"text"`
	} `json:"exit"`
	Counts struct {
		Answered   map[string]int `json:"answered"`
		Refused    int            `json:"refused"`
		Lost       int            `json:"lost"`
		LostReused int            `json:"lost_reused"`
		Aborted    int            `json:"aborted"`
	} `json:"counts"`
	ByKind map[string]struct {
		Answered int `json:"answered"`
		Refused  int `json:"refused"`
		Lost     int `json:"lost"`
		Aborted  int `json:"aborted"`
	} `json:"by_kind"`
	Slow struct {
		Sent      int `json:"sent"`
		Completed int `json:"completed"`
	} `json:"slow"`
	Held struct {
		IdleOpen               int `json:"idle_open"`
		IdleClosedBeforeExit   int `json:"idle_closed_before_exit"`
		SilentOpen             int `json:"silent_open"`
		SilentClosedBeforeExit int `json:"silent_closed_before_exit"`
	} `json:"held"`
	Streams map[string]struct {
		Open          int `json:"open"`
		ClosedCleanly int `json:"closed_cleanly"`
		Cut           int `json:"cut"`
	} `json:"streams"`
	Probe struct {
		BusyRate    float64 `json:"busy_rate"`
		SignalLagMS float64 `json:"signal_lag_ms"`
		LagP99MS    float64 `json:"lag_p99_ms"`
		LagMaxMS    float64 `json:"lag_max_ms"`
		KeptUp      bool    `json:"kept_up"`
	} `json:"probe"`
	Timeline struct {
		BucketMS float64          `json:"bucket_ms"`
		StartMS  float64          `json:"start_ms"`
		Buckets  []map[string]int `json:"buckets"`
	} `json:"timeline"`
	Notable []struct {
		Kind    string  `json:"kind"`
		Client  int     `json:"client"`
		Seq     int     `json:"seq"`
		Outcome string  `json:"outcome"`
		Reason  string  `json:"reason"`
		Status  int     `json:"status"`
		SentMS  float64 `json:"sent_ms"`
		DoneMS  float64 `json:"done_ms"`
		Error   string  `json:"error"`
	} `json:"notable"`
	NotableDropped int `json:"notable_dropped"`
	Verdict        struct {
		Pass     bool      `json:"pass"`
		Reasons  []finding `json:"reasons"`
		Warnings []finding `json:"warnings"`
	} `json:"verdict"`
	OutputTail string `json:"output_tail"`
}

type finding struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

func parseView(b []byte) (*view, error) {
	v := new(view)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}

// classes are the timeline's outcome classes, in the order they stack.
var classes = []string{"2xx", "1xx", "3xx", "4xx", "5xx", "other", "refused", "lost"}

// split counts the timeline's requests of each class before and after
// the origin (the signal).
func (v *view) split() (before, after map[string]int) {
	before, after = map[string]int{}, map[string]int{}
	for i, b := range v.Timeline.Buckets {
		t := v.Timeline.StartMS + float64(i)*v.Timeline.BucketMS
		m := after
		if t < 0 {
			m = before
		}
		for k, n := range b {
			m[k] += n
		}
	}
	return before, after
}
