package deploy_test

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drain-go/drain"
	"github.com/drain-go/drain/internal/seed"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	// propagation is what the checks allow for a change of readiness to
	// reach whatever routes traffic: the EndpointSlice update, then
	// kube-proxy on every node, ingress controllers, service meshes.
	// Typically 1-2 s; more on a loaded cluster.
	propagation = 2 * time.Second

	// graceMargin is what the checks want between the latest exit drain
	// allows itself (Timeout + CleanupReserve) and SIGKILL.
	graceMargin = time.Second

	// defaultGracePeriod is Kubernetes' terminationGracePeriodSeconds.
	defaultGracePeriod = 30
)

// TestDeploy checks deploy/Dockerfile and deploy/kubernetes against the
// demo server's flags and drain's defaults.
func TestDeploy(t *testing.T) {
	files := readFiles(t)
	for _, err := range evaluate(t, files) {
		t.Error(err)
	}
}

// TestChecksCatch breaks the real files one way at a time and expects
// the checks to say so: none of them passes vacuously.
func TestChecksCatch(t *testing.T) {
	const (
		dockerfile = "Dockerfile"
		deploy     = "kubernetes/deployment.yaml"
		svc        = "kubernetes/service.yaml"
		kust       = "kubernetes/kustomization.yaml"
	)
	type edit struct{ file, old, new string }
	tests := []struct {
		name  string
		edits []edit
		want  string
	}{
		// The image.
		{"shell-form ENTRYPOINT", []edit{{dockerfile, `ENTRYPOINT ["/seed"]`, `ENTRYPOINT /seed`}}, "shell form"},
		{"exec-form ENTRYPOINT running a shell", []edit{{dockerfile, `ENTRYPOINT ["/seed"]`, `ENTRYPOINT ["/bin/sh", "-c", "/seed"]`}}, "runs a shell"},
		{"no ENTRYPOINT", []edit{{dockerfile, `ENTRYPOINT ["/seed"]`, ``}}, "no ENTRYPOINT"},
		{"no STOPSIGNAL", []edit{{dockerfile, "STOPSIGNAL SIGTERM\n", ""}}, "no STOPSIGNAL"},
		{"STOPSIGNAL SIGINT", []edit{{dockerfile, "STOPSIGNAL SIGTERM", "STOPSIGNAL SIGINT"}}, "STOPSIGNAL SIGINT"},
		{"no USER", []edit{{dockerfile, "USER 65532:65532\n", ""}}, "no USER"},
		{"USER root", []edit{{dockerfile, "USER 65532:65532", "USER root"}}, "is root"},
		{"USER 0:0", []edit{{dockerfile, "USER 65532:65532", "USER 0:0"}}, "is root"},
		{"EXPOSE another port", []edit{{dockerfile, "EXPOSE 8080", "EXPOSE 3000"}}, "EXPOSE"},
		{"ENV PORT another port", []edit{{dockerfile, "ENV PORT=8080", "ENV PORT=3000"}}, "listens on :3000"},
		{"no ENV PORT", []edit{{dockerfile, "ENV PORT=8080\n", ""}}, "listens on :3000"},
		{"named USER without runAsUser", []edit{
			{dockerfile, "USER 65532:65532", "USER nonroot:nonroot"},
			{deploy, "        runAsUser: 65532 # distroless's nonroot, as in the Dockerfile\n", ""},
		}, "not numeric"},

		// The container.
		{"bad flag", []edit{{deploy, "- -timeout=15s", "- -timeout=15"}}, "args"},
		{"command overrides ENTRYPOINT", []edit{{deploy, "          args:\n", "          command: [\"/seed\"]\n          args:\n"}}, "command"},
		{"env PORT overrides the image", []edit{{deploy, "          args:\n", "          env:\n            - name: PORT\n              value: \"3000\"\n          args:\n"}}, "listens on :3000"},
		{"-addr elsewhere", []edit{{deploy, "- -timeout=15s", "- -timeout=15s\n            - -addr=:9090"}}, "listens on :9090"},
		{"containerPort differs", []edit{{deploy, "containerPort: 8080", "containerPort: 9090"}}, "listens on :8080"},
		{"container port renamed", []edit{{deploy, "            - name: http\n", "            - name: web\n"}}, `no container port is named "http"`},
		{"readiness on /livez", []edit{{deploy, "path: /readyz", "path: /livez"}}, "readinessProbe path"},
		{"liveness on /readyz", []edit{{deploy, "path: /livez", "path: /readyz"}}, "livenessProbe path"},
		{"no readinessProbe", []edit{{deploy, "          readinessProbe:\n            httpGet:\n              path: /readyz\n              port: http\n", "          xreadinessProbe:\n            httpGet:\n              path: /readyz\n              port: http\n"}}, "no readinessProbe"},
		{"readiness on another port", []edit{{deploy, "path: /readyz\n              port: http", "path: /readyz\n              port: 9090"}}, "readinessProbe port"},
		{"preStop hook", []edit{{deploy, "          imagePullPolicy: IfNotPresent\n", "          imagePullPolicy: IfNotPresent\n          lifecycle:\n            preStop:\n              sleep:\n                seconds: 5\n"}}, "preStop"},

		// The timing.
		{"shutdown delay shorter than detection", []edit{{deploy, "-shutdown-delay=5s", "-shutdown-delay=3s"}}, "shutdown delay 3s is not longer"},
		{"no shutdown delay", []edit{{deploy, "            - -shutdown-delay=5s\n", ""}}, "shutdown delay 0s is not longer"},
		{"delay equal to detection + propagation", []edit{{deploy, "periodSeconds: 1\n            failureThreshold: 1", "periodSeconds: 2\n            failureThreshold: 1"}}, "shutdown delay 5s is not longer"},
		{"readiness needs 3 failures", []edit{{deploy, "failureThreshold: 1", "failureThreshold: 3"}}, "shutdown delay 5s is not longer"},
		{"readiness probe defaults", []edit{{deploy, "            periodSeconds: 1\n            failureThreshold: 1\n", ""}}, "readiness detection 31s"},
		{"shutdown delay not under timeout", []edit{{deploy, "-timeout=15s", "-timeout=5s"}}, "must be shorter than -timeout"},
		{"timeout too short for the longest request", []edit{{deploy, "-timeout=15s", "-timeout=10s"}}, "longest request"},
		{"grace period too short", []edit{{deploy, "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds: 16"}}, "terminationGracePeriodSeconds 16s"},
		{"timeout too long for the grace period", []edit{{deploy, "-timeout=15s", "-timeout=19s"}}, "terminationGracePeriodSeconds 20s"},
		{"timeout too long for the default grace period", []edit{
			{deploy, "-timeout=15s", "-timeout=29s"},
			{deploy, "      terminationGracePeriodSeconds: 20\n", ""},
		}, "terminationGracePeriodSeconds 30s"},

		// The pod and the rollout.
		{"runAsNonRoot false", []edit{{deploy, "runAsNonRoot: true", "runAsNonRoot: false"}}, "runAsNonRoot"},
		{"runAsUser 0", []edit{{deploy, "runAsUser: 65532", "runAsUser: 0"}}, "runAsUser 0"},
		{"maxUnavailable 1", []edit{{deploy, "maxUnavailable: 0", "maxUnavailable: 1"}}, "maxUnavailable"},
		{"Recreate", []edit{{deploy, "type: RollingUpdate", "type: Recreate"}}, "RollingUpdate"},

		// The Service.
		{"targetPort elsewhere", []edit{{svc, "targetPort: http", "targetPort: 9090"}}, "targetPort 9090"},
		{"targetPort names nothing", []edit{{svc, "targetPort: http", "targetPort: web"}}, `no container port is named "web"`},
		{"no targetPort: port 80", []edit{{svc, "      targetPort: http\n", ""}}, "targetPort 80"},
		{"Service selects other pods", []edit{{svc, "  selector:\n    app.kubernetes.io/name: drain-seed", "  selector:\n    app.kubernetes.io/name: other"}}, "no Service selects"},
		{"kustomization misses a file", []edit{{kust, "  - service.yaml\n", ""}}, "kustomization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := readFiles(t)
			for _, e := range tt.edits {
				s := string(files[e.file])
				if n := strings.Count(s, e.old); n != 1 {
					t.Fatalf("%s: %q occurs %d times, want once: fix the test", e.file, e.old, n)
				}
				files[e.file] = []byte(strings.Replace(s, e.old, e.new, 1))
			}
			errs := evaluate(t, files)
			for _, err := range errs {
				t.Log(err)
			}
			if !mentions(errs, tt.want) {
				t.Errorf("no problem mentions %q; got %v", tt.want, errs)
			}
		})
	}
}

// TestCheckImage runs the image checks on small images.
func TestCheckImage(t *testing.T) {
	good := func() image {
		return image{
			entrypoint: []string{"/seed"},
			stopSignal: "SIGTERM",
			user:       "65532:65532",
			expose:     []string{"8080"},
			env:        map[string]string{"PORT": "8080"},
		}
	}
	tests := []struct {
		name   string
		change func(*image)
		want   string // "" for no problem
	}{
		{"good", func(*image) {}, ""},
		{"STOPSIGNAL by number", func(i *image) { i.stopSignal = "15" }, ""},
		{"STOPSIGNAL without SIG", func(i *image) { i.stopSignal = "term" }, ""},
		{"EXPOSE with protocol", func(i *image) { i.expose = []string{"9090", "8080/tcp"} }, ""},
		{"named user", func(i *image) { i.user = "nonroot" }, ""},
		{"tini in front", func(i *image) { i.entrypoint = []string{"/tini", "--", "/seed"} }, ""},
		{"shell form", func(i *image) { i.entrypoint, i.shellForm = nil, "/seed" }, "shell form"},
		{"bash -c", func(i *image) { i.entrypoint = []string{"bash", "-c", "exec /seed"} }, "runs a shell"},
		{"empty exec form", func(i *image) { i.entrypoint = []string{} }, "no ENTRYPOINT"},
		{"no STOPSIGNAL", func(i *image) { i.stopSignal = "" }, "no STOPSIGNAL"},
		{"SIGQUIT", func(i *image) { i.stopSignal = "SIGQUIT" }, "STOPSIGNAL SIGQUIT"},
		{"no USER", func(i *image) { i.user = "" }, "no USER"},
		{"root", func(i *image) { i.user = "root:root" }, "is root"},
		{"uid 0", func(i *image) { i.user = "0" }, "is root"},
		{"no EXPOSE", func(i *image) { i.expose = nil }, "EXPOSE"},
		{"EXPOSE udp", func(i *image) { i.expose = []string{"8080/udp"} }, "EXPOSE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := good()
			tt.change(&img)
			errs := checkImage(img, 8080)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("unexpected problems: %v", errs)
			case tt.want != "" && !mentions(errs, tt.want):
				t.Errorf("no problem mentions %q; got %v", tt.want, errs)
			}
		})
	}
}

// mentions reports whether one of errs says want.
func mentions(errs []error, want string) bool {
	return slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), want) })
}

// readFiles reads deploy/Dockerfile and the manifests of
// deploy/kubernetes, named by their path in deploy/.
func readFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	names, err := filepath.Glob("kubernetes/*")
	if err != nil {
		t.Fatal(err)
	}
	names = append(names, "Dockerfile")
	for _, name := range names {
		if ext := path.Ext(name); name != "Dockerfile" && ext != ".yaml" && ext != ".yml" {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.ToSlash(name)] = b
	}
	return files
}

// evaluate parses files (as [readFiles] returns them) and returns every
// problem it finds. It sets PORT for the test, as the container's
// environment would.
func evaluate(t *testing.T, files map[string][]byte) []error {
	t.Helper()
	stage, err := finalStage(parseDockerfile(string(files["Dockerfile"])))
	if err != nil {
		return []error{fmt.Errorf("Dockerfile: %w", err)}
	}
	img, err := imageConfig(stage)
	if err != nil {
		return []error{fmt.Errorf("Dockerfile: %w", err)}
	}
	yamls := map[string][]byte{}
	for name, b := range files {
		if base, ok := strings.CutPrefix(name, "kubernetes/"); ok {
			yamls[base] = b
		}
	}
	m, err := decodeManifests(yamls)
	if err != nil {
		return []error{err}
	}
	if len(m.deployments) != 1 {
		return []error{fmt.Errorf("%d Deployments in deploy/kubernetes, want 1", len(m.deployments))}
	}
	d := m.deployments[0]
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		return []error{fmt.Errorf("Deployment %s: %d containers, want 1", d.Metadata.Name, n)}
	}
	c := d.Spec.Template.Spec.Containers[0]

	// The demo's options, as it would parse them in the container: the
	// manifest's env overrides the image's.
	env := maps.Clone(img.env)
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	setPort(t, env)
	opts, err := seed.ParseArgs(c.Args, io.Discard)
	if err != nil {
		return []error{fmt.Errorf("container %s: args %q: %w", c.Name, c.Args, err)}
	}

	var errs []error
	port, err := listenPort(opts, c)
	if err != nil {
		return append(errs, err)
	}
	errs = append(errs, checkImage(img, port)...)
	errs = append(errs, checkContainer(c, img, port)...)
	errs = append(errs, checkTiming(opts, d.Spec.Template.Spec, c)...)
	errs = append(errs, checkPod(d, img)...)
	errs = append(errs, checkServices(m.services, d, c, port)...)
	errs = append(errs, checkKustomization(m)...)
	return errs
}

// setPort sets PORT for the rest of the test as env has it, or unsets it.
func setPort(t *testing.T, env map[string]string) {
	t.Helper()
	if v, ok := env["PORT"]; ok {
		t.Setenv("PORT", v)
		return
	}
	t.Setenv("PORT", "") // restored when the test ends
	os.Unsetenv("PORT")
}

// listenPort returns the port the demo listens on, which must be the
// container's one port.
func listenPort(opts seed.Options, c container) (int, error) {
	if len(c.Ports) != 1 {
		return 0, fmt.Errorf("container %s: %d ports, want 1: the demo serves on one", c.Name, len(c.Ports))
	}
	want := c.Ports[0].ContainerPort
	_, p, err := net.SplitHostPort(opts.Addr)
	if err != nil {
		return 0, fmt.Errorf("container %s: listen address %q: %w", c.Name, opts.Addr, err)
	}
	if n, err := strconv.Atoi(p); err != nil || n != want {
		return 0, fmt.Errorf("container %s: the demo listens on %s (-addr, else :$PORT), not on containerPort %d", c.Name, opts.Addr, want)
	}
	return want, nil
}

// checkImage checks the config of the image's final stage, for a
// container that serves on port.
func checkImage(img image, port int) []error {
	var errs []error
	switch {
	case img.shellForm != "":
		errs = append(errs, fmt.Errorf("Dockerfile: ENTRYPOINT %s is in shell form: it runs under /bin/sh -c, which does not pass SIGTERM on; use the exec form, a JSON array", img.shellForm))
	case len(img.entrypoint) == 0:
		errs = append(errs, errors.New("Dockerfile: the final stage has no ENTRYPOINT"))
	case isShell(img.entrypoint[0]):
		errs = append(errs, fmt.Errorf("Dockerfile: ENTRYPOINT %q runs a shell, which does not pass SIGTERM on unless it execs the server", img.entrypoint))
	}
	switch sig := strings.TrimPrefix(strings.ToUpper(img.stopSignal), "SIG"); sig {
	case "TERM", "15":
	case "":
		errs = append(errs, errors.New("Dockerfile: no STOPSIGNAL in the final stage; want SIGTERM"))
	default:
		errs = append(errs, fmt.Errorf("Dockerfile: STOPSIGNAL %s; want SIGTERM, which drain handles", img.stopSignal))
	}
	user, _, _ := strings.Cut(img.user, ":")
	switch user {
	case "":
		errs = append(errs, errors.New("Dockerfile: no USER in the final stage: the server would run as root"))
	case "root", "0":
		errs = append(errs, fmt.Errorf("Dockerfile: USER %s is root", img.user))
	}
	p := strconv.Itoa(port)
	if !slices.Contains(img.expose, p) && !slices.Contains(img.expose, p+"/tcp") {
		errs = append(errs, fmt.Errorf("Dockerfile: EXPOSE %v lacks the container port %d", img.expose, port))
	}
	return errs
}

func isShell(arg0 string) bool {
	return slices.Contains([]string{"sh", "bash", "dash", "ash", "zsh"}, path.Base(arg0))
}

// checkContainer checks that the container runs the image's ENTRYPOINT
// and probes the demo's health endpoints on the port it serves on.
func checkContainer(c container, img image, port int) []error {
	var errs []error
	if len(c.Command) > 0 {
		errs = append(errs, fmt.Errorf("container %s: command %q replaces the image's ENTRYPOINT %q", c.Name, c.Command, img.entrypoint))
	}
	for _, pr := range []struct {
		name, path string
		probe      *probe
	}{
		{"readinessProbe", "/readyz", c.ReadinessProbe},
		{"livenessProbe", "/livez", c.LivenessProbe},
	} {
		switch {
		case pr.probe == nil:
			errs = append(errs, fmt.Errorf("container %s: no %s", c.Name, pr.name))
			continue
		case pr.probe.HTTPGet == nil:
			errs = append(errs, fmt.Errorf("container %s: %s is not an httpGet of %s", c.Name, pr.name, pr.path))
			continue
		}
		if got := pr.probe.HTTPGet.Path; got != pr.path {
			errs = append(errs, fmt.Errorf("container %s: %s path %q, want %s", c.Name, pr.name, got, pr.path))
		}
		p, err := resolvePort(pr.probe.HTTPGet.Port, c.Ports)
		if err != nil {
			errs = append(errs, fmt.Errorf("container %s: %s port: %w", c.Name, pr.name, err))
		} else if p != port {
			errs = append(errs, fmt.Errorf("container %s: %s port %s; the demo listens on %d", c.Name, pr.name, portString(pr.probe.HTTPGet.Port, p), port))
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		errs = append(errs, fmt.Errorf("container %s: a preStop hook holds SIGTERM back; the shutdown delay replaces it (if one is required, subtract its length from the delay)", c.Name))
	}
	return errs
}

// checkTiming checks the arithmetic of docs/rollouts.md: the shutdown
// delay outlasts readiness detection and propagation, the timeout covers
// the delay and the longest request, and the grace period covers the
// timeout and the cleanup.
func checkTiming(opts seed.Options, pod podSpec, c container) []error {
	var errs []error
	if c.ReadinessProbe != nil {
		detect := c.ReadinessProbe.detection()
		if opts.ShutdownDelay <= detect+propagation {
			errs = append(errs, fmt.Errorf("shutdown delay %v is not longer than readiness detection %v (periodSeconds x failureThreshold + timeoutSeconds) + endpoint propagation %v", opts.ShutdownDelay, detect, propagation))
		}
	}
	if opts.ShutdownDelay >= opts.Timeout {
		errs = append(errs, fmt.Errorf("shutdown delay %v must be shorter than -timeout %v, which bounds it", opts.ShutdownDelay, opts.Timeout))
	}
	// The demo's longest request is GET /, which takes -delay.
	if need := opts.ShutdownDelay + opts.Delay + drain.DefaultIdleGrace; opts.Timeout < need {
		errs = append(errs, fmt.Errorf("-timeout %v is less than shutdown delay %v + longest request %v (GET /, -delay) + IdleGrace %v = %v", opts.Timeout, opts.ShutdownDelay, opts.Delay, drain.DefaultIdleGrace, need))
	}
	grace := time.Duration(defaultGracePeriod) * time.Second
	if pod.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	}
	if need := opts.Timeout + drain.DefaultCleanupReserve + graceMargin; grace < need {
		errs = append(errs, fmt.Errorf("terminationGracePeriodSeconds %v is less than -timeout %v + CleanupReserve %v + margin %v = %v: SIGKILL could cut the drain or the cleanup", grace, opts.Timeout, drain.DefaultCleanupReserve, graceMargin, need))
	}
	return errs
}

// checkPod checks that the pod runs as a user other than root, in a way
// the kubelet can verify, and that the rollout keeps every replica.
func checkPod(d deployment, img image) []error {
	var errs []error
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	var nonRoot *bool
	var uid *int64
	for _, sc := range []*securityContext{pod.SecurityContext, c.SecurityContext} { // the container's wins
		if sc == nil {
			continue
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
	}
	if nonRoot == nil || !*nonRoot {
		errs = append(errs, errors.New("pod: runAsNonRoot is not true"))
	}
	user, _, _ := strings.Cut(img.user, ":")
	switch _, err := strconv.Atoi(user); {
	case uid != nil && *uid == 0:
		errs = append(errs, errors.New("pod: runAsUser 0 is root"))
	case uid == nil && err != nil && user != "":
		errs = append(errs, fmt.Errorf("pod: the image's USER %q is not numeric: with runAsNonRoot the kubelet cannot verify it and refuses to start the container; set runAsUser or a numeric USER", img.user))
	}
	if s := d.Spec.Strategy; s.Type != "" && s.Type != "RollingUpdate" {
		errs = append(errs, fmt.Errorf("Deployment %s: strategy %s; want RollingUpdate", d.Metadata.Name, s.Type))
	}
	if mu := d.Spec.Strategy.RollingUpdate.MaxUnavailable; mu == nil || (mu.s != "0" && mu.s != "0%") {
		errs = append(errs, fmt.Errorf("Deployment %s: maxUnavailable %v; want 0, so that an old pod stops only once its replacement is ready", d.Metadata.Name, mu))
	}
	return errs
}

// checkServices checks that a Service selects the pods and sends its
// traffic to the port the demo listens on.
func checkServices(svcs []service, d deployment, c container, port int) []error {
	var errs []error
	labels := d.Spec.Template.Metadata.Labels
	found := false
	for _, s := range svcs {
		if len(s.Spec.Selector) == 0 || !selects(s.Spec.Selector, labels) {
			continue
		}
		found = true
		for _, sp := range s.Spec.Ports {
			target := intOrString{strconv.Itoa(sp.Port)}
			if sp.TargetPort != nil {
				target = *sp.TargetPort
			}
			p, err := resolvePort(target, c.Ports)
			if err != nil {
				errs = append(errs, fmt.Errorf("Service %s port %d: targetPort: %w", s.Metadata.Name, sp.Port, err))
			} else if p != port {
				errs = append(errs, fmt.Errorf("Service %s port %d: targetPort %s; the demo listens on %d", s.Metadata.Name, sp.Port, portString(target, p), port))
			}
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("no Service selects the pods of Deployment %s (labels %v)", d.Metadata.Name, labels))
	}
	return errs
}

// portString says which port v designates: "8080", or "http (8080)".
func portString(v intOrString, port int) string {
	if v.s == strconv.Itoa(port) {
		return v.s
	}
	return fmt.Sprintf("%s (%d)", v.s, port)
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkKustomization checks that a kustomization.yaml, if there is one,
// lists every other manifest.
func checkKustomization(m *manifests) []error {
	var errs []error
	var want []string
	for _, f := range m.files {
		if f != "kustomization.yaml" && f != "kustomization.yml" {
			want = append(want, f)
		}
	}
	for _, k := range m.kustomizations {
		got := slices.Sorted(slices.Values(k.Resources))
		if !slices.Equal(got, want) {
			errs = append(errs, fmt.Errorf("kustomization resources %v; want every manifest: %v", got, want))
		}
	}
	return errs
}
