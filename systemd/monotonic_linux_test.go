package systemd

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMonotonic(t *testing.T) {
	read := func() time.Duration {
		t.Helper()
		s := Monotonic()
		v, ok := strings.CutPrefix(s, "MONOTONIC_USEC=")
		if !ok {
			t.Fatalf("Monotonic() = %q", s)
		}
		usec, err := strconv.ParseInt(v, 10, 64)
		if err != nil || usec <= 0 {
			t.Fatalf("Monotonic() = %q", s)
		}
		return time.Duration(usec) * time.Microsecond
	}
	start := time.Now()
	a := read()
	time.Sleep(20 * time.Millisecond)
	b := read()
	elapsed := time.Since(start) // Go's monotonic clock, on CLOCK_MONOTONIC too
	if b-a < 20*time.Millisecond || b-a > elapsed+time.Millisecond {
		t.Errorf("Monotonic advanced %v in a %v sleep (%v measured by Go)", b-a, 20*time.Millisecond, elapsed)
	}
	// The clock counts from boot, not from the process's start.
	if up, ok := uptime(); ok && a > up+time.Second {
		t.Errorf("Monotonic %v, after the %v since boot", a, up)
	}
}

// uptime reads the time since boot, suspend included, from /proc/uptime.
func uptime() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, false
	}
	f, _, _ := strings.Cut(string(data), " ")
	sec, err := strconv.ParseFloat(f, 64)
	return time.Duration(sec * float64(time.Second)), err == nil
}
