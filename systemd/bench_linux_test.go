package systemd

import "testing"

// BenchmarkNotify measures one notification, sent from a socket of its
// own, to a receiver that reads it:
//
//	go test -run '^$' -bench Notify ./systemd
func BenchmarkNotify(b *testing.B) {
	r := listenNotify(b, false)
	n, err := NewNotifier()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := n.Notify("WATCHDOG=1"); err != nil {
			b.Fatal(err)
		}
		r.recv()
	}
}
