package report

import "testing"

func TestCounts(t *testing.T) {
	var c Counts
	c.Count(Answered, 200, 1)
	c.Count(Answered, 204, 2)
	c.Count(Answered, 503, 3)
	c.Count(Answered, 0, 1)
	c.Count(Refused, 0, 0)
	c.Count(Lost, 0, 1)
	c.Count(Lost, 0, 7)
	c.Count(Aborted, 0, 1)
	want := Counts{Status: [6]int{0: 1, 2: 2, 5: 1}, Refused: 1, Lost: 2, LostReused: 1, Aborted: 1}
	if c != want {
		t.Errorf("counts %+v, want %+v", c, want)
	}
	if c.Answered() != 4 || c.Total() != 8 {
		t.Errorf("Answered %d, Total %d; want 4, 8", c.Answered(), c.Total())
	}
}
