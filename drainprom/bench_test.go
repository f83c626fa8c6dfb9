package drainprom_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkGather measures a scrape without its HTTP round trip: a
// registry gathering the metrics of a group serving one server with
// conns open connections.
func BenchmarkGather(b *testing.B) {
	for _, conns := range []int{0, 100, 1000} {
		b.Run(fmt.Sprint("conns=", conns), func(b *testing.B) {
			f := newFixture(b, 0, []string{"web"}, nil)
			f.start(b)
			reg := prometheus.NewRegistry()
			reg.MustRegister(f.c)
			for range conns {
				c, err := net.Dial("tcp", f.addrs[0])
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
			}
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
