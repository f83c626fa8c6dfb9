//go:build !linux

package systemd

// childMain: the socket activation tests run on Linux only.
func childMain() int { return 2 }
