package probe

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// Upgrades need a PID file, a signal of their own, and no process group.
func TestUpgradesConfig(t *testing.T) {
	base := Config{Server: Command{Args: []string{"./server"}}}
	for _, tc := range []struct {
		u    Upgrades
		edit func(*Config)
		want string
	}{
		{Upgrades{Count: 1}, nil, "without a PIDFile"},
		{Upgrades{Count: 1, PIDFile: "p", Signal: syscall.SIGTERM}, nil, "both SIGTERM"},
		{Upgrades{Count: 1, PIDFile: "p"}, func(c *Config) { c.SignalGroup = true }, "SignalGroup with Upgrades"},
		{Upgrades{Count: -1, PIDFile: "p"}, nil, "negative Upgrades.Count"},
		{Upgrades{Count: 1, PIDFile: "p", Interval: -time.Second}, nil, "negative Upgrades.Interval"},
	} {
		c := base
		c.Upgrades = tc.u
		if tc.edit != nil {
			tc.edit(&c)
		}
		if _, err := c.resolve(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.u, err, tc.want)
		}
	}
	c := base
	c.Upgrades = Upgrades{Count: 2, PIDFile: "p"}
	r, err := c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if u := r.Upgrades; u.Signal != syscall.SIGHUP || u.Interval != DefaultUpgradeInterval || u.Timeout != DefaultUpgradeTimeout {
		t.Errorf("defaults: %+v", u)
	}
}
