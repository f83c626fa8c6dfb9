package deploy_test

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A unitFile holds the settings of a systemd unit file, by section and
// key, each key's values in order: a key may be repeated (ExecStart= in a
// drop-in first resets the list with an empty assignment, then sets it).
type unitFile map[string]map[string][]string

// parseUnit parses a unit file, or a unit file followed by its drop-ins
// (systemd reads them in that order, as one file), as systemd.syntax(7)
// describes the format, but for what the demo's files do not use: a line
// ending in a backslash, quotes in a command line or an environment, and
// specifiers are an error, not silently misread.
func parseUnit(text string) (unitFile, error) {
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case strings.HasSuffix(line, `\`):
			return nil, fmt.Errorf("line %d: continuation lines are not supported by the test's parser", n)
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: malformed section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not an assignment", n, line)
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: %q outside a section", n, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if strings.Contains(value, "%") || (strings.HasPrefix(key, "Exec") || key == "Environment") && strings.ContainsAny(value, `"'`) {
			return nil, fmt.Errorf("line %d: %s=%s: quotes and specifiers are not supported by the test's parser", n, key, value)
		}
		if value == "" {
			delete(u[section], key) // an empty assignment resets a list
			continue
		}
		u[section][key] = append(u[section][key], value)
	}
	return u, sc.Err()
}

// get returns the last value of key in section: the one systemd uses for
// a setting that is not a list.
func (u unitFile) get(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// parseTimeSpan parses a systemd time span (systemd.time(7)): "15s",
// "1min 30s", "500ms", a bare number of seconds, or "infinity".
func parseTimeSpan(s string) (time.Duration, error) {
	if s == "infinity" {
		return time.Duration(1<<63 - 1), nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	units := map[string]time.Duration{
		"us": time.Microsecond, "usec": time.Microsecond,
		"ms": time.Millisecond, "msec": time.Millisecond,
		"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
		"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
		"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	}
	var total time.Duration
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, fmt.Errorf("empty time span")
	}
	for rest != "" {
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return 0, fmt.Errorf("time span %q: expected a number at %q", s, rest)
		}
		n, err := strconv.ParseFloat(rest[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("time span %q: %w", s, err)
		}
		rest = rest[i:]
		j := strings.IndexFunc(rest, func(r rune) bool { return (r >= '0' && r <= '9') || r == ' ' })
		if j < 0 {
			j = len(rest)
		}
		unit, ok := units[rest[:j]]
		if !ok {
			return 0, fmt.Errorf("time span %q: unknown unit %q", s, rest[:j])
		}
		total += time.Duration(n * float64(unit))
		rest = strings.TrimSpace(rest[j:])
	}
	return total, nil
}

func TestParseUnit(t *testing.T) {
	const text = "# comment\n[Service]\nType=notify\nExecStart=/a -x\n; comment\nEnvironment=A=1\nEnvironment=B=2\n"
	base, err := parseUnit(text)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := base.get("Service", "Type"); v != "notify" {
		t.Errorf("Type = %q", v)
	}
	if v := base["Service"]["Environment"]; len(v) != 2 || v[1] != "B=2" {
		t.Errorf("Environment = %q", v)
	}
	// A drop-in is read after its unit, as if appended to it.
	for _, tt := range []struct {
		dropin string
		want   []string
	}{
		{"[Service]\nExecStart=\nExecStart=/b -y\n", []string{"/b -y"}},
		{"[Service]\nExecStart=/b -y\n", []string{"/a -x", "/b -y"}},
	} {
		u, err := parseUnit(text + tt.dropin)
		if err != nil {
			t.Fatal(err)
		}
		if v := u["Service"]["ExecStart"]; !slices.Equal(v, tt.want) {
			t.Errorf("ExecStart with the drop-in %q = %q, want %q", tt.dropin, v, tt.want)
		}
	}
	for _, bad := range []string{
		"Type=notify\n",                  // outside a section
		"[Service\n",                     // malformed header
		"[Service]\nnot an assignment\n", // no '='
		"[Service]\nExecStart=/a \\\n  -x\n",
		"[Service]\nExecStart=/a \"x y\"\n",
		"[Service]\nExecStart=/a %i\n",
	} {
		if _, err := parseUnit(bad); err == nil {
			t.Errorf("parseUnit(%q): no error", bad)
		}
	}
}

func TestParseTimeSpan(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"15s", 15 * time.Second},
		{"15", 15 * time.Second},
		{"1min 30s", 90 * time.Second},
		{"1min30s", 90 * time.Second},
		{"500ms", 500 * time.Millisecond},
		{"2h", 2 * time.Hour},
	} {
		got, err := parseTimeSpan(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseTimeSpan(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "s", "15 parsecs", "1min x"} {
		if _, err := parseTimeSpan(bad); err == nil {
			t.Errorf("parseTimeSpan(%q): no error", bad)
		}
	}
}
