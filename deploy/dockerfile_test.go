package deploy_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// An instruction is one Dockerfile instruction, its continuation lines
// joined.
type instruction struct {
	line int    // where it begins, from 1
	cmd  string // in upper case: FROM, ENTRYPOINT...
	args string // the rest, trimmed
}

// parseDockerfile splits a Dockerfile into its instructions as docker
// build reads them with the default escape character: a line ending in a
// backslash continues on the next, and blank lines and comments are
// dropped, inside a continuation too. Parser directives (# syntax=...) are
// comments here. Heredocs and the escape directive are not supported, and
// variables are not expanded.
func parseDockerfile(src string) []instruction {
	var out []instruction
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cmd, args := s, ""
		if i := strings.IndexAny(s, " \t"); i >= 0 {
			cmd, args = s[:i], strings.TrimSpace(s[i:])
		}
		out = append(out, instruction{start, strings.ToUpper(cmd), args})
		cur.Reset()
	}
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, " \t\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		body, more := strings.CutSuffix(line, `\`)
		cur.WriteString(body)
		if !more {
			flush()
		}
	}
	if cur.Len() > 0 {
		flush() // the file ends in a continuation
	}
	return out
}

// finalStage returns the instructions of the stage that docker build
// produces without --target, the last one, preceded by those of the
// stage it builds on when its FROM names an earlier stage.
func finalStage(ins []instruction) ([]instruction, error) {
	type stage struct {
		name string
		ins  []instruction
	}
	var stages []stage
	for _, in := range ins {
		if in.cmd != "FROM" {
			if len(stages) == 0 {
				if in.cmd == "ARG" {
					continue // ARG may come before the first FROM
				}
				return nil, fmt.Errorf("line %d: %s before FROM", in.line, in.cmd)
			}
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
			continue
		}
		var words []string // FROM [--platform=...] image [AS name]
		for _, w := range strings.Fields(in.args) {
			if !strings.HasPrefix(w, "--") {
				words = append(words, w)
			}
		}
		if len(words) == 0 {
			return nil, fmt.Errorf("line %d: FROM without an image", in.line)
		}
		s := stage{ins: []instruction{in}}
		if len(words) == 3 && strings.EqualFold(words[1], "AS") {
			s.name = strings.ToLower(words[2])
		}
		base := strings.ToLower(words[0])
		if i := slices.IndexFunc(stages, func(p stage) bool { return p.name != "" && p.name == base }); i >= 0 {
			s.ins = append(slices.Clone(stages[i].ins), s.ins...)
		}
		stages = append(stages, s)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return stages[len(stages)-1].ins, nil
}

// An image is what the checks read of the config that a stage's
// instructions give its image. What the base image sets is unknown and
// left out: the checks want the Dockerfile to say it.
type image struct {
	entrypoint []string // ENTRYPOINT in exec form
	shellForm  string   // ENTRYPOINT in shell form
	stopSignal string
	user       string
	expose     []string // 8080, 8080/tcp...
	env        map[string]string
}

func imageConfig(stage []instruction) (image, error) {
	img := image{env: map[string]string{}}
	for _, in := range stage {
		switch in.cmd {
		case "ENTRYPOINT":
			// Docker takes a valid JSON array of strings for the exec form
			// and anything else for the shell form.
			img.entrypoint, img.shellForm = nil, ""
			if err := json.Unmarshal([]byte(in.args), &img.entrypoint); err != nil || !strings.HasPrefix(in.args, "[") {
				img.entrypoint, img.shellForm = nil, in.args
			}
		case "STOPSIGNAL":
			img.stopSignal = in.args
		case "USER":
			img.user = in.args
		case "EXPOSE":
			img.expose = append(img.expose, strings.Fields(in.args)...)
		case "ENV":
			env, err := parseEnv(in.args)
			if err != nil {
				return image{}, fmt.Errorf("line %d: ENV: %w", in.line, err)
			}
			maps.Copy(img.env, env)
		}
	}
	return img, nil
}

// parseEnv parses the arguments of ENV: key=value pairs, values quoted or
// not, or the old form "ENV key the value".
func parseEnv(args string) (map[string]string, error) {
	words, err := splitWords(args)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("no variable")
	}
	if !strings.Contains(words[0], "=") {
		key, value := words[0], ""
		if i := strings.IndexAny(args, " \t"); i >= 0 {
			value = strings.TrimSpace(args[i:])
		}
		return map[string]string{key: value}, nil
	}
	env := map[string]string{}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", w)
		}
		env[k] = v
	}
	return env, nil
}

// splitWords splits s at unquoted spaces, removing the quotes and the
// backslashes that escape a character, as Docker does for ENV.
func splitWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c in %q", quote, s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

func TestParseDockerfile(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want image
	}{
		{
			name: "continuations and comments inside them",
			src: "# syntax=docker/dockerfile:1\n" +
				"FROM golang AS build\n" +
				"RUN go build \\\n" +
				"# a comment in the middle\n" +
				"    ./x\n" +
				"FROM scratch\n" +
				"ENTRYPOINT [\"/seed\", \\\n" +
				"\t\"-timeout=15s\"]\n",
			want: image{entrypoint: []string{"/seed", "-timeout=15s"}, env: map[string]string{}},
		},
		{
			name: "only the final stage counts",
			src: "FROM golang AS build\nUSER root\nENV PORT=1\nEXPOSE 1\nSTOPSIGNAL SIGINT\nENTRYPOINT [\"/x\"]\n" +
				"FROM scratch\nENTRYPOINT /seed\n",
			want: image{shellForm: "/seed", env: map[string]string{}},
		},
		{
			name: "a stage built on an earlier one inherits its config",
			src:  "FROM scratch AS base\nUSER 65532\nenv PORT=8080\nFROM base\nstopsignal SIGTERM\n",
			want: image{user: "65532", stopSignal: "SIGTERM", env: map[string]string{"PORT": "8080"}},
		},
		{
			name: "ENV forms",
			src:  "FROM scratch\nENV A=1 B=\"two words\" C=x\\ y\nENV D the rest\nENV A=2\n",
			want: image{env: map[string]string{"A": "2", "B": "two words", "C": "x y", "D": "the rest"}},
		},
		{
			name: "ENTRYPOINT that is not a JSON array is in shell form",
			src:  "FROM scratch\nEXPOSE 8080/tcp 9090\nENTRYPOINT ['/seed']\n",
			want: image{shellForm: "['/seed']", expose: []string{"8080/tcp", "9090"}, env: map[string]string{}},
		},
		{
			name: "ARG before FROM, flags on FROM, the last ENTRYPOINT wins",
			src:  "ARG GO=1.26\nFROM --platform=linux/amd64 scratch AS run\nENTRYPOINT /bin/sh -c /seed\nENTRYPOINT [ \"/seed\" ]\n",
			want: image{entrypoint: []string{"/seed"}, env: map[string]string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stage, err := finalStage(parseDockerfile(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			got, err := imageConfig(stage)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseDockerfileErrors(t *testing.T) {
	for _, src := range []string{
		"",
		"# only a comment\n",
		"RUN true\nFROM scratch\n",
		"FROM scratch\nENV A=\"unterminated\n",
		"FROM scratch\nENV =1\n",
	} {
		stage, err := finalStage(parseDockerfile(src))
		if err == nil {
			_, err = imageConfig(stage)
		}
		if err == nil {
			t.Errorf("%q: no error", src)
		}
	}
}
