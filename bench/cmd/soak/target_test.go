//go:build unix

package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestServerFlag(t *testing.T) {
	var servers []server
	drainF, baseF := serverFlag{&servers, true}, serverFlag{&servers, false}
	if err := drainF.Set("drain=/tmp/seed -delay 1s"); err != nil {
		t.Fatal(err)
	}
	if err := baseF.Set("go-stdlib=/tmp/gostdlib --port {port}"); err != nil {
		t.Fatal(err)
	}
	if len(servers) != 2 || !servers[0].drain || servers[1].drain || servers[1].args[2] != "{port}" {
		t.Errorf("parsed %+v", servers)
	}
	if drainF.String() != "drain" || baseF.String() != "go-stdlib" || (serverFlag{}).String() != "" {
		t.Errorf("String: %q, %q", drainF.String(), baseF.String())
	}
	for _, bad := range []string{"drain", "=cmd", "x=", "drain=/other", "go-stdlib=/other", "delay=/tmp/seed"} {
		if err := baseF.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestSelectTargets(t *testing.T) {
	servers := []server{
		{name: "go-stdlib", args: []string{"/g"}},
		{name: "drain", args: []string{"/s"}, drain: true},
	}
	tests := []struct {
		list string
		want []string
	}{
		{"", []string{"drain / default", "drain / delay", "drain / retry-after", "drain / both", "go-stdlib"}},
		{"go-stdlib, retry-after", []string{"drain / retry-after", "go-stdlib"}},
		{"both,default", []string{"drain / default", "drain / both"}},
	}
	for _, tt := range tests {
		ts, err := selectTargets(servers, tt.list)
		var got []string
		for _, t := range ts {
			got = append(got, t.String())
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("selectTargets(%q) = %q, %v; want %q", tt.list, got, err, tt.want)
		}
	}
	for _, bad := range []string{"nope", "default,nope"} {
		if _, err := selectTargets(servers, bad); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("selectTargets(%q): %v", bad, err)
		}
	}
	if _, err := selectTargets(nil, ""); err == nil {
		t.Error("no server accepted")
	}
	if _, err := selectTargets(servers[:1], "retry-after"); err == nil {
		t.Error("a drain mode without a drain server accepted")
	}
}

func TestCommand(t *testing.T) {
	both := modes[slices.IndexFunc(modes, func(m mode) bool { return m.name == "both" })]
	d := &target{server: server{name: "drain", args: []string{"/s", "-delay", "1s"}, drain: true}, mode: both}
	want := []string{"/s", "-delay", "1s", "-addr", "127.0.0.1:4000", "-timeout", "3s", "-retry-after", "-shutdown-delay", "100ms"}
	if got := d.command(4000, 3*time.Second); !slices.Equal(got, want) {
		t.Errorf("drain command = %q, want %q", got, want)
	}
	b := &target{server: server{name: "node", args: []string{"node", "app.js", "--port={port}"}}}
	want = []string{"node", "app.js", "--port=4000"}
	if got := b.command(4000, 3*time.Second); !slices.Equal(got, want) {
		t.Errorf("baseline command = %q, want %q", got, want)
	}
	if d.selector() != "both" || b.selector() != "node" {
		t.Errorf("selectors %q, %q", d.selector(), b.selector())
	}
}
