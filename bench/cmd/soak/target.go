//go:build unix

package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A mode is one way to run a drain server: the flags added to its command.
type mode struct {
	name  string
	flags []string
}

// modes are drain's shutdown modes, in the order of the table.
var modes = []mode{
	{"default", nil},
	{"delay", []string{"-shutdown-delay", "100ms"}},
	{"retry-after", []string{"-retry-after"}},
	{"both", []string{"-retry-after", "-shutdown-delay", "100ms"}},
}

func modeNames() []string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = m.name
	}
	return names
}

// A server is a server command under test.
type server struct {
	name string
	args []string // the command; "{port}" in them is replaced by the port
	// drain reports a server built on drain that takes the seed demo's
	// flags (-addr, -timeout, -shutdown-delay, -retry-after): it runs in
	// each mode and its log is read. The others, baselines, run as they
	// are, listening on $PORT.
	drain bool
}

// A target is one row of the table: a server in one mode.
type target struct {
	server server
	mode   mode // zero for a baseline
}

// String names the target: "drain / retry-after", or a baseline's name.
func (t *target) String() string {
	if !t.server.drain {
		return t.server.name
	}
	return t.server.name + " / " + t.mode.name
}

// selector is the -modes entry that selects the target.
func (t *target) selector() string {
	if !t.server.drain {
		return t.server.name
	}
	return t.mode.name
}

// command returns the target's command for a server on port: a drain
// server listens on loopback with the given bound on its shutdown.
func (t *target) command(port int, timeout time.Duration) []string {
	p := strconv.Itoa(port)
	args := make([]string, 0, len(t.server.args)+4+len(t.mode.flags))
	for _, a := range t.server.args {
		args = append(args, strings.ReplaceAll(a, "{port}", p))
	}
	if t.server.drain {
		args = append(args, "-addr", loopback(port), "-timeout", timeout.String())
		args = append(args, t.mode.flags...)
	}
	return args
}

// serverFlag is the -server or the -baseline flag: both add to one list,
// so that a name is given once.
type serverFlag struct {
	servers *[]server
	drain   bool
}

func (f serverFlag) String() string {
	if f.servers == nil {
		return ""
	}
	var names []string
	for _, s := range *f.servers {
		if s.drain == f.drain {
			names = append(names, s.name)
		}
	}
	return strings.Join(names, ",")
}

func (f serverFlag) Set(v string) error {
	name, cmd, ok := strings.Cut(v, "=")
	args := strings.Fields(cmd)
	if !ok || name == "" || len(args) == 0 {
		return errors.New("want name=command [args...]")
	}
	if slices.ContainsFunc(*f.servers, func(s server) bool { return s.name == name }) {
		return fmt.Errorf("server %q given twice", name)
	}
	if slices.Contains(modeNames(), name) {
		return fmt.Errorf("server %q: a mode's name", name)
	}
	*f.servers = append(*f.servers, server{name: name, args: args, drain: f.drain})
	return nil
}

// selectTargets returns the targets the comma-separated list selects, by
// drain mode or baseline name, in the order of the table: each drain
// server in each mode selected, then the baselines selected. An empty list
// selects them all.
func selectTargets(servers []server, list string) ([]*target, error) {
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			want[name] = true
		}
	}
	all := len(want) == 0
	var known []string
	var ts []*target
	pick := func(t *target) {
		known = append(known, t.selector())
		if all || want[t.selector()] {
			ts = append(ts, t)
		}
	}
	for _, s := range servers {
		if s.drain {
			for _, m := range modes {
				pick(&target{server: s, mode: m})
			}
		}
	}
	for _, s := range servers {
		if !s.drain {
			pick(&target{server: s})
		}
	}
	for name := range want {
		if !slices.Contains(known, name) {
			slices.Sort(known)
			return nil, fmt.Errorf("-modes: unknown %q (known: %s)", name, strings.Join(slices.Compact(known), ", "))
		}
	}
	if len(ts) == 0 {
		return nil, errors.New("no server to soak: give -server or -baseline")
	}
	return ts, nil
}
