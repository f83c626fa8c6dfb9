package report

// An Outcome is what became of one request. See the package documentation
// of probe.
type Outcome int

const (
	// Answered: a complete response was read, whatever its status.
	Answered Outcome = iota
	// Refused: no connection could be established, so nothing was sent.
	Refused
	// Lost: the request was written on an established connection and no
	// complete response came back.
	Lost
	// Aborted: the probe gave up on the request when the run ended.
	Aborted
)

func (o Outcome) String() string {
	switch o {
	case Answered:
		return "answered"
	case Refused:
		return "refused"
	case Lost:
		return "lost"
	case Aborted:
		return "aborted"
	}
	return "outcome(?)"
}

// A Reason says why a request was not answered, more precisely than its
// Outcome.
type Reason string
