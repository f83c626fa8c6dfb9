package proc

import (
	"strings"
	"testing"
)

func TestTailKeepsTheEnd(t *testing.T) {
	var sink strings.Builder
	tl := &tail{w: &sink}
	tl.Write([]byte("start\n"))
	tl.Write([]byte(strings.Repeat("x", tailSize)))
	tl.Write([]byte("end\n"))
	if got := tl.String(); len(got) != tailSize || !strings.HasSuffix(got, "xend\n") || strings.Contains(got, "start") {
		t.Errorf("tail of %d bytes: ...%q", len(got), got[len(got)-10:])
	}
	if sink.Len() != len("start\n")+tailSize+len("end\n") {
		t.Errorf("passed on %d bytes, want all", sink.Len())
	}
}
