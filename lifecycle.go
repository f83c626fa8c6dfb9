package drain

import (
	"fmt"
	"sync"
	"time"
)

// An Event is a step in the life of a [Group]. Each happens at most once,
// in this order, from Serving to CleanupDone, and is logged with its name
// as the "event" attribute. [Group.Happened] returns a channel closed when
// an event has happened, and [Group.When] the time it happened.
//
// A shutdown that begins because a server failed, or whose delay is cut
// short by a second signal, still goes through every event: the ones it
// skips happen at once.
type Event int

const (
	// Serving: Run has started the servers.
	Serving Event = iota
	// ShutdownInitiated: a signal arrived, the context ended or a server
	// failed. Readiness fails from now on ([Group.Health]); the servers
	// keep serving for [Group.ShutdownDelay], telling clients to close
	// their connections.
	ShutdownInitiated
	// DelayElapsed: the shutdown delay is over; the drain begins, and
	// handlers see [Draining].
	DelayElapsed
	// StoppedAccepting: every server has stopped accepting connections.
	// For a server that cannot tell, it is when the drain begins.
	StoppedAccepting
	// Drained: every server has finished, or has been closed by force.
	Drained
	// CleanupDone: the cleanup functions have run. Run returns next, once
	// the readiness checks still running have had a moment to end.
	CleanupDone

	numEvents
)

var eventNames = [numEvents]string{
	Serving:           "serving",
	ShutdownInitiated: "shutdown-initiated",
	DelayElapsed:      "delay-elapsed",
	StoppedAccepting:  "stopped-accepting",
	Drained:           "drained",
	CleanupDone:       "cleanup-done",
}

// String returns the event's name: "shutdown-initiated", for example.
func (e Event) String() string {
	if e < 0 || e >= numEvents {
		return fmt.Sprintf("Event(%d)", int(e))
	}
	return eventNames[e]
}

// A lifecycle records when each event happened and closes its channel.
// Its zero value is ready to use.
type lifecycle struct {
	mu    sync.Mutex
	chans [numEvents]chan struct{}
	times [numEvents]time.Time // zero until the event happens
}

// done returns the channel closed when e happens; an unknown event's
// channel is never closed.
func (l *lifecycle) done(e Event) <-chan struct{} {
	if e < 0 || e >= numEvents {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.chans[e] == nil {
		l.chans[e] = make(chan struct{})
		if !l.times[e].IsZero() {
			close(l.chans[e])
		}
	}
	return l.chans[e]
}

// when returns the time e happened, or the zero time.
func (l *lifecycle) when(e Event) time.Time {
	if e < 0 || e >= numEvents {
		return time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.times[e]
}

// mark records that e happened at t, and that every earlier event that
// had not happened did at the same time. It reports whether e is new.
func (l *lifecycle) mark(e Event, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.times[e].IsZero() {
		return false
	}
	for i := Serving; i <= e; i++ {
		if !l.times[i].IsZero() {
			continue
		}
		l.times[i] = t
		if l.chans[i] != nil {
			close(l.chans[i])
		}
	}
	return true
}
