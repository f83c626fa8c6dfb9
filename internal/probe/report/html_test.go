package report

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drain-go/drain/internal/probe/proc"
)

// samplePage writes the page of a failed run made up for the tests: lost
// requests a few ms after the signal, the signal, the last response and
// the exit within 5 ms of each other, idle connections the server closed,
// silent sockets the probe had to close, a stream cut.
func samplePage(t *testing.T) (string, *view) {
	t.Helper()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	reset, closed := Reason("reset before response"), Reason("closed before response")
	r := &Report{
		Addr: "127.0.0.1:8080", Command: []string{"./server"}, Signal: syscall.SIGTERM,
		Load:   Load{Busy: 4, Idle: 2, Silent: 3, WebSockets: 2},
		Warmup: 500 * time.Millisecond,
		Start:  at(-500), SignalAt: t0, LastResponse: at(1.5), QuietClosedAt: at(3),
		Exit:            proc.Exit{At: at(4.2), Code: 1},
		Busy:            Counts{Status: [6]int{2: 60000}, Refused: 3, Lost: 2},
		Slow:            Counts{Lost: 1},
		SentAfterSignal: Counts{Refused: 3, Lost: 3},
		WebSocket:       Counts{Status: [6]int{2: 1}, Lost: 1},
		IdleOpen:        2, IdleClosedBeforeExit: 2, SilentOpen: 3, WebSocketsOpen: 2,
		LagP99:   21 * time.Millisecond, // did not keep up
		Timeline: Timeline{Start: at(-500), Bucket: 10 * time.Millisecond},
		Records: []Record{
			{Kind: Busy, Client: 1, Seq: 40, Outcome: Lost, Reason: reset, Sent: at(0.5), Done: at(0.9)},
			{Kind: Busy, Client: 2, Seq: 41, Outcome: Lost, Reason: reset, Sent: at(0.6), Done: at(1)},
			{Kind: WebSocket, Client: 0, Outcome: Answered, Sent: at(-499), Done: at(2)},
			{Kind: Slow, Client: 0, Seq: 1, Outcome: Lost, Reason: closed, Sent: at(-300), Done: at(4.1)},
			{Kind: WebSocket, Client: 1, Outcome: Lost, Reason: closed, Sent: at(-499), Done: at(4.2)},
		},
		Verdict: Verdict{Reasons: []Finding{
			{Code: CodeExitCode, Text: "exit code 1", Advice: "Exit 0 once the shutdown is complete."},
			{Code: "lost", Text: "3 requests lost", Advice: "Close only quiet connections."},
		}},
		Output: "listening on :8080\nshutting down <now>\n",
	}
	for i := range 51 {
		b := Counts{Status: [6]int{2: 1200}}
		if i == 50 {
			b = Counts{Refused: 3, Lost: 3}
		}
		r.Timeline.Buckets = append(r.Timeline.Buckets, b)
	}
	v := &view{Report: r}
	var page bytes.Buffer
	if err := r.WriteHTML(&page, ""); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(name, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return name, v
}

// The page tells the story of the sample run: a mark for each lost
// request, the markers' labels on rows of their own, a lane for each kind
// of connection held, the advice and the server's output.
func TestHTMLTimeline(t *testing.T) {
	name, v := samplePage(t)
	c := newChart(v)
	lost := 0
	for _, m := range c.Lost {
		lost += m.N
	}
	if lost != 3 || c.LostUnmarked != 0 {
		t.Errorf("lost marks for %d requests, %d unmarked; want 3, 0", lost, c.LostUnmarked)
	}
	rows := map[float64]string{}
	for _, m := range c.Markers {
		if other, ok := rows[m.LabelY]; ok {
			t.Errorf("the labels %q and %q share a row", other, m.Label)
		}
		rows[m.LabelY] = m.Label
	}
	if len(c.Markers) != 4 {
		t.Errorf("markers %+v, want the signal, the last response, the quiet connections closed and the exit", c.Markers)
	}
	var lanes []string
	for _, l := range c.Lanes {
		lanes = append(lanes, l.Name)
	}
	if got := strings.Join(lanes, ", "); got != "idle (2), silent (3), WebSocket (2)" {
		t.Errorf("lanes %q", got)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{
		"Exit 0 once the shutdown is complete.", // advice
		`<pre class="output">listening on :8080` + "\nshutting down &lt;now&gt;",
		"<tspan>SIGTERM</tspan> <tspan class=\"when\">&#43;0.0 ms</tspan>",
		"<tspan>last response</tspan> <tspan class=\"when\">&#43;1.5 ms</tspan>",
		"<tspan>exit</tspan> <tspan class=\"when\">&#43;4.2 ms</tspan>",
		"×3", // the three lost within a few px of each other, marked together
		"when each closed: not recorded",
		"3 still open until the probe closed them",
		`class="tcut"`, `class="tclean"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

// chromium finds a Chromium to render pages with.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed, and CI=true: install it (apt-get install chromium; .ci/run does)")
	}
	t.Skip("chromium (or chromium-browser) is not on PATH: install it to render the page in a browser")
	return ""
}

// The page renders in a real browser: its DOM holds the timeline, the
// browser logs no error, and a screenshot shows the FAIL badge and the
// answered requests in their colours.
func TestHTMLBrowser(t *testing.T) {
	bin := chromium(t)
	name, _ := samplePage(t)
	dir := t.TempDir()
	browse := func(args ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + filepath.Join(dir, "profile"),
			"--enable-logging=stderr", "--v=0", "--window-size=1280,1200"}, args...)
		cmd := exec.CommandContext(ctx, bin, append(args, "file://"+name)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v (%v)\n%s", bin, strings.Join(args, " "), err, ctx.Err(), errOut.String())
		}
		for _, line := range strings.Split(errOut.String(), "\n") {
			if strings.Contains(line, "Uncaught") || strings.Contains(line, "CONSOLE") {
				t.Errorf("the browser logged: %s", line)
			}
		}
		return out.String(), errOut.String()
	}

	dom, _ := browse("--dump-dom")
	for _, want := range []string{`id="timeline"`, `class="lost"`, `class="conn"`, `<pre class="output">`, `id="report"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the browser's DOM lacks %s", want)
		}
	}

	shot := filepath.Join(dir, "report.png")
	browse("--screenshot=" + shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
	// The FAIL badge (#cf222e) and the answered bars (#2da44e).
	want := map[[3]uint32]string{{0xcf, 0x22, 0x2e}: "the FAIL badge's red", {0x2d, 0xa4, 0x4e}: "the answered requests' green"}
	seen := map[[3]uint32]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	for c, what := range want {
		if !seen[c] {
			t.Errorf("the screenshot shows no %s", what)
		}
	}
}
