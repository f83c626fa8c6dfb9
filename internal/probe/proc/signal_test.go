//go:build linux

package proc

import (
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want syscall.Signal
		name string
	}{
		{"SIGTERM", syscall.SIGTERM, "SIGTERM"},
		{"term", syscall.SIGTERM, "SIGTERM"},
		{"15", syscall.SIGTERM, "SIGTERM"},
		{"sigwinch", syscall.SIGWINCH, "SIGWINCH"},
		{"QUIT", syscall.SIGQUIT, "SIGQUIT"},
		{"USR1", syscall.SIGUSR1, "SIGUSR1"},
		{"10", syscall.SIGUSR1, "SIGUSR1"},
		{"40", syscall.Signal(40), "signal 40"}, // real-time
	} {
		s, err := ParseSignal(tc.in)
		if err != nil || s != tc.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", tc.in, s, err, tc.want)
			continue
		}
		if got := SignalName(s); got != tc.name {
			t.Errorf("SignalName(%v) = %q, want %q", s, got, tc.name)
		}
	}
	for _, bad := range []string{"", "SIGNOPE", "0", "-15", "65", "SIG"} {
		if s, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) = %v, want an error", bad, s)
		}
	}
}
