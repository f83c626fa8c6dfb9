package main

import (
	"strconv"
	"testing"
)

func TestSpread(t *testing.T) {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	tests := []struct {
		vs   []float64
		want string
	}{
		{nil, "-"},
		{[]float64{16, 16, 16}, "16"},
		{[]float64{5, 1, 3}, "3 (1–5)"},
		{[]float64{4, 1, 2, 3}, "2 (1–4)"}, // the mean of 2 and 3, rounded to even
		{[]float64{0.2, 0.4}, "0"},         // equal once formatted: no range
	}
	for _, tt := range tests {
		if got := spread(tt.vs, f); got != tt.want {
			t.Errorf("spread(%v) = %q, want %q", tt.vs, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	tests := []struct {
		v    float64
		prec int
		want string
	}{
		{0, 0, "0"},
		{999, 0, "999"},
		{5827.4, 0, "5,827"},
		{1234567.891, 2, "1,234,567.89"},
		{-10000, 0, "-10,000"},
	}
	for _, tt := range tests {
		if got := thousands(tt.v, tt.prec); got != tt.want {
			t.Errorf("thousands(%v, %d) = %q, want %q", tt.v, tt.prec, got, tt.want)
		}
	}
}

func TestServerFlag(t *testing.T) {
	var s serverFlags
	if err := s.Set("drain=/tmp/seed -addr :{port}"); err != nil {
		t.Fatal(err)
	}
	if s[0].name != "drain" || len(s[0].args) != 3 || s[0].args[2] != ":{port}" {
		t.Errorf("parsed %+v", s[0])
	}
	for _, bad := range []string{"drain", "=cmd", "x=", "drain=/other"} {
		if err := s.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestPick(t *testing.T) {
	got, err := pick("idle10k, keepalive")
	if err != nil || len(got) != 2 || got[0].name != "keepalive" || got[1].name != "idle10k" {
		t.Errorf("pick = %v, %v; want keepalive, idle10k in the order they run", got, err)
	}
	for _, bad := range []string{"", "nope", "keepalive,nope"} {
		if _, err := pick(bad); err == nil {
			t.Errorf("pick(%q) accepted", bad)
		}
	}
}

func TestReadProcStat(t *testing.T) {
	st, err := readProcStat(1)
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	if st.flags&pfKthread != 0 {
		t.Errorf("pid 1 flagged as a kernel thread: %+v", st)
	}
}
