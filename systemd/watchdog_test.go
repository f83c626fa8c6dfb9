package systemd

import (
	"os"
	"strconv"
	"testing"
	"time"
)

func TestWatchdogInterval(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tt := range []struct {
		name    string
		usec    string // "-" for unset
		pid     string // "-" for unset
		want    time.Duration
		wantErr bool
	}{
		{"off", "-", "-", 0, false},
		{"no pid", "30000000", "-", 30 * time.Second, false},
		{"this process", "500000", self, 500 * time.Millisecond, false},
		{"another process", "500000", strconv.Itoa(os.Getpid() + 1), 0, false},
		{"pid without usec", "-", self, 0, false},
		{"usec not a number", "30s", self, 0, true},
		{"usec empty", "", "-", 0, true},
		{"usec zero", "0", "-", 0, true},
		{"usec negative", "-1", "-", 0, true},
		{"usec overflows", "18446744073709551615", "-", 0, true},
		{"pid not a number", "500000", "me", 0, true},
		{"pid zero", "500000", "0", 0, true},
		{"pid empty", "500000", "", 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setOrUnset(t, "WATCHDOG_USEC", tt.usec)
			setOrUnset(t, "WATCHDOG_PID", tt.pid)
			got, err := WatchdogInterval()
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// setOrUnset sets the variable for the test, or unsets it if value is
// "-".
func setOrUnset(t *testing.T, name, value string) {
	t.Helper()
	t.Setenv(name, value)
	if value == "-" {
		os.Unsetenv(name)
	}
}
