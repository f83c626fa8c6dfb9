package drainprom

import (
	"cmp"
	"errors"
	"sync"
	"time"

	"github.com/drain-go/drain"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultNamespace is the prefix of every metric name when
// [Collector.Namespace] is empty: drain_requests_in_flight, for example.
const DefaultNamespace = "drain"

// phaseStarting names the phase before [drain.Group.Run] starts, when no
// event has happened yet.
const phaseStarting = "starting"

// A Collector is a [prometheus.Collector] of the metrics of a
// [drain.Group]: what its servers hold open, where it is in its
// lifecycle, what a forced shutdown cut and how the cleanup went. It reads
// the group when it is collected (when Prometheus scrapes), and holds no
// state of its own between scrapes.
//
// Get one from [NewCollector]. It may be collected from any goroutine,
// before, during and after Run.
type Collector struct {
	// Namespace is the prefix of the metric names, followed by "_".
	// Set it before registering the collector: it is read once, the first
	// time the collector is described or collected. Defaults to
	// [DefaultNamespace]. To add labels, or a prefix before it, wrap the
	// registerer with [prometheus.WrapRegistererWith] or
	// [prometheus.WrapRegistererWithPrefix].
	Namespace string

	g     *drain.Group
	once  sync.Once
	descs *descs
}

// NewCollector returns a collector of g's metrics, to register:
//
//	reg.MustRegister(drainprom.NewCollector(&g))
//
// With a nil g, every scrape fails with an error that says so.
func NewCollector(g *drain.Group) *Collector {
	return &Collector{g: g}
}

// errNilGroup is what a collector without a group reports.
var errNilGroup = errors.New("drainprom: the collector has no Group (NewCollector(nil))")

// descs describe the metrics, in the order Collect sends them.
type descs struct {
	inFlight       *prometheus.Desc
	streams        *prometheus.Desc
	conns          *prometheus.Desc
	http2Conns     *prometheus.Desc
	forcedRequests *prometheus.Desc
	forcedConns    *prometheus.Desc
	oldestAge      *prometheus.Desc
	accepting      *prometheus.Desc
	phase          *prometheus.Desc
	eventTime      *prometheus.Desc
	shutdown       *prometheus.Desc
	drain          *prometheus.Desc
	cleanup        *prometheus.Desc
}

func newDescs(namespace string) *descs {
	ns := cmp.Or(namespace, DefaultNamespace)
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(ns, "", name), help, labels, nil)
	}
	return &descs{
		inFlight: d("requests_in_flight",
			"Requests being served, by server. A request cut by a forced "+
				"shutdown is counted until its handler returns.",
			"server"),
		streams: d("streams_in_flight",
			"Of the requests in flight, the streams (gRPC streaming RPCs), by server.",
			"server"),
		conns: d("connections",
			"Open connections, by server and state: new (nothing received "+
				"yet), active (serving a request), idle (keep-alive, between "+
				"requests), hijacked (taken over by a handler, as WebSockets are).",
			"server", "state"),
		http2Conns: d("http2_connections",
			"Open connections that speak HTTP/2, by server. They are counted "+
				"in the connections metric too.",
			"server"),
		forcedRequests: d("forced_requests_total",
			"Requests still running when the shutdown was forced, by server: "+
				"requests lost to the hard bound (Group.Timeout or a second signal).",
			"server"),
		forcedConns: d("forced_connections_total",
			"Connections closed by force when the shutdown was forced, by server.",
			"server"),
		oldestAge: d("oldest_request_age_seconds",
			"How long the oldest request (RPC, or job for a worker) in flight "+
				"has run, by server; 0 when none is.",
			"server"),
		accepting: d("accepting",
			"1 until the server stops accepting new work (connections; jobs, "+
				"for a worker) in a shutdown, then 0, by server. Absent for "+
				"servers that cannot tell.",
			"server"),
		phase: d("phase",
			"The phase of the group, as a state set: 1 for the current phase, "+
				"0 for the others. starting before Run; then the last lifecycle "+
				"event that happened: serving, shutdown-initiated, delay-elapsed, "+
				"stopped-accepting, drained, cleanup-done.",
			"phase"),
		eventTime: d("event_timestamp_seconds",
			"When each lifecycle event happened, in seconds since the Unix "+
				"epoch. Absent until it happens.",
			"event"),
		shutdown: d("shutdown_duration_seconds",
			"Time from the start of the shutdown (shutdown-initiated) to the "+
				"end of the drain (drained); while shutting down, the time so "+
				"far. Absent before the shutdown."),
		drain: d("drain_duration_seconds",
			"Time from the start of the drain (delay-elapsed) to its end "+
				"(drained); while draining, the time so far. Absent before the drain."),
		cleanup: d("cleanup_duration_seconds",
			"Time from the end of the drain (drained) to the end of the "+
				"cleanup functions (cleanup-done); while they run, the time so "+
				"far. Absent before the cleanup."),
	}
}

func (c *Collector) getDescs() *descs {
	c.once.Do(func() { c.descs = newDescs(c.Namespace) })
	return c.descs
}

// Describe sends the descriptors of every metric the collector can
// collect. It implements [prometheus.Collector].
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.getDescs()
	for _, desc := range []*prometheus.Desc{
		d.inFlight, d.streams, d.conns, d.http2Conns, d.forcedRequests, d.forcedConns,
		d.oldestAge, d.accepting,
		d.phase, d.eventTime, d.shutdown, d.drain, d.cleanup,
	} {
		ch <- desc
	}
}

// Collect reads the group and sends its metrics. It implements
// [prometheus.Collector].
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := c.getDescs()
	if c.g == nil {
		ch <- prometheus.NewInvalidMetric(d.phase, errNilGroup)
		return
	}
	c.collectServers(ch, d)
	c.collectLifecycle(ch, d)
}

// collectServers sends what each server holds open, whether it accepts,
// and what a forced shutdown cut. Servers of the same name are added up
// (the oldest age is the greatest, and accepting counts the servers that
// accept): the group does not require distinct names, and a series must
// be unique.
func (c *Collector) collectServers(ch chan<- prometheus.Metric, d *descs) {
	// The series of each server, in the order they are sent: the metric,
	// the labels after the server's name, and the value in its Stats.
	series := []struct {
		desc   *prometheus.Desc
		typ    prometheus.ValueType
		labels []string
		value  func(drain.Stats) int
	}{
		{d.inFlight, prometheus.GaugeValue, nil, func(s drain.Stats) int { return s.Requests }},
		{d.streams, prometheus.GaugeValue, nil, func(s drain.Stats) int { return s.Streams }},
		{d.conns, prometheus.GaugeValue, []string{"new"}, func(s drain.Stats) int { return s.New }},
		{d.conns, prometheus.GaugeValue, []string{"active"}, func(s drain.Stats) int { return s.Active }},
		{d.conns, prometheus.GaugeValue, []string{"idle"}, func(s drain.Stats) int { return s.Idle }},
		{d.conns, prometheus.GaugeValue, []string{"hijacked"}, func(s drain.Stats) int { return s.Hijacked }},
		{d.http2Conns, prometheus.GaugeValue, nil, func(s drain.Stats) int { return s.HTTP2 }},
		{d.forcedRequests, prometheus.CounterValue, nil, func(s drain.Stats) int { return s.ForcedRequests }},
		{d.forcedConns, prometheus.CounterValue, nil, func(s drain.Stats) int { return s.ForcedConns }},
	}
	type server struct {
		sums      []int // a value for each series
		oldest    time.Duration
		accepting int
		tells     bool // whether one of them can tell it accepts
	}
	var names []string
	byName := make(map[string]*server)
	for _, s := range c.g.Stats() {
		sv, ok := byName[s.Name]
		if !ok {
			sv = &server{sums: make([]int, len(series))}
			byName[s.Name] = sv
			names = append(names, s.Name)
		}
		for i, se := range series {
			sv.sums[i] += se.value(s.Stats)
		}
		sv.oldest = max(sv.oldest, s.OldestAge)
		if s.NotAccepting != nil {
			sv.tells = true
			select {
			case <-s.NotAccepting:
			default:
				sv.accepting++
			}
		}
	}
	for _, name := range names {
		sv := byName[name]
		for i, se := range series {
			send(ch, se.desc, se.typ, sv.sums[i], append([]string{name}, se.labels...)...)
		}
		send(ch, d.oldestAge, prometheus.GaugeValue, sv.oldest.Seconds(), name)
		if sv.tells {
			send(ch, d.accepting, prometheus.GaugeValue, sv.accepting, name)
		}
	}
}

// collectLifecycle sends the phase, the time of each event and the
// durations of the shutdown, the drain and the cleanup.
//
// It reads the events in order and stops at the first that has not
// happened: a group marks an event together with every earlier one it
// skipped, so a scrape that races with an event shows the phase and the
// times from before it or from after it, never a mix.
func (c *Collector) collectLifecycle(ch chan<- prometheus.Metric, d *descs) {
	var times []time.Time // of the events that happened, in order
	for e := drain.Serving; e <= drain.CleanupDone; e++ {
		t := c.g.When(e)
		if t.IsZero() {
			break
		}
		times = append(times, t)
	}
	current := phaseStarting
	if len(times) > 0 {
		current = drain.Event(len(times) - 1).String()
	}
	send(ch, d.phase, prometheus.GaugeValue, boolValue(current == phaseStarting), phaseStarting)
	for e := drain.Serving; e <= drain.CleanupDone; e++ {
		send(ch, d.phase, prometheus.GaugeValue, boolValue(current == e.String()), e.String())
	}
	for i, t := range times {
		send(ch, d.eventTime, prometheus.GaugeValue, float64(t.UnixNano())/1e9, drain.Event(i).String())
	}

	// Each duration runs from an event to the next step's end, or to now
	// while that has not happened: a scrape during the shutdown shows its
	// progress.
	now := time.Now()
	during := func(desc *prometheus.Desc, from, to drain.Event) {
		if int(from) >= len(times) {
			return
		}
		end := now
		if int(to) < len(times) {
			end = times[to]
		}
		send(ch, desc, prometheus.GaugeValue, end.Sub(times[from]).Seconds())
	}
	during(d.shutdown, drain.ShutdownInitiated, drain.Drained)
	during(d.drain, drain.DelayElapsed, drain.Drained)
	during(d.cleanup, drain.Drained, drain.CleanupDone)
}

// send sends a constant metric, or an invalid one that makes the scrape
// report the error (a Namespace that is not a valid metric name, say).
func send[V float64 | int](ch chan<- prometheus.Metric, desc *prometheus.Desc, typ prometheus.ValueType, v V, labels ...string) {
	m, err := prometheus.NewConstMetric(desc, typ, float64(v), labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(desc, err)
	}
	ch <- m
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
