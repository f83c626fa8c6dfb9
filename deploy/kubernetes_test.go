package deploy_test

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// The parts of the Kubernetes objects that the checks read. A field a
// manifest leaves out keeps its zero value (nil for the pointers, whose
// defaults matter).

type objectMeta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type deployment struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable *intOrString `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int64           `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               *securityContext `yaml:"securityContext"`
	Containers                    []container      `yaml:"containers"`
}

type securityContext struct {
	RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
	RunAsUser    *int64 `yaml:"runAsUser"`
}

type container struct {
	Name            string           `yaml:"name"`
	Command         []string         `yaml:"command"`
	Args            []string         `yaml:"args"`
	Env             []envVar         `yaml:"env"`
	Ports           []containerPort  `yaml:"ports"`
	ReadinessProbe  *probe           `yaml:"readinessProbe"`
	LivenessProbe   *probe           `yaml:"livenessProbe"`
	Lifecycle       *lifecycle       `yaml:"lifecycle"`
	SecurityContext *securityContext `yaml:"securityContext"`
}

type envVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
}

type lifecycle struct {
	PreStop *yaml.Node `yaml:"preStop"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
	TimeoutSeconds   int `yaml:"timeoutSeconds"`
}

// detection is the longest the kubelet can take to mark the container
// unready after its readiness starts failing, the moment after a probe
// succeeded: failureThreshold more probes, periodSeconds apart, the last
// one answered within timeoutSeconds. Fields left out take the API's
// defaults: 10 s, 3 and 1 s.
func (p *probe) detection() time.Duration {
	period := cmp.Or(p.PeriodSeconds, 10)
	failures := cmp.Or(p.FailureThreshold, 3)
	timeout := cmp.Or(p.TimeoutSeconds, 1)
	return time.Duration(period*failures+timeout) * time.Second
}

type service struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []servicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

type servicePort struct {
	Name       string       `yaml:"name"`
	Port       int          `yaml:"port"`
	TargetPort *intOrString `yaml:"targetPort"` // defaults to Port
}

type kustomization struct {
	Resources []string `yaml:"resources"`
}

// An intOrString is a number or a name, like the API's IntOrString: a
// port given by number or by the name of a container port, or a count
// given as a number or a percentage.
type intOrString struct{ s string }

func (v *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a number or a name", n.Line)
	}
	v.s = n.Value
	return nil
}

func (v intOrString) String() string { return v.s }

// resolvePort returns the port v designates among a container's ports:
// itself if it is a number, else the port of that name.
func resolvePort(v intOrString, ports []containerPort) (int, error) {
	if n, err := strconv.Atoi(v.s); err == nil {
		return n, nil
	}
	for _, p := range ports {
		if p.Name == v.s {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("no container port is named %q", v.s)
}

// manifests are the objects of deploy/kubernetes that the checks read;
// objects of other kinds are ignored.
type manifests struct {
	files          []string // names of the manifest files, sorted
	deployments    []deployment
	services       []service
	kustomizations []kustomization
}

// decodeManifests decodes every YAML document of every file (name to
// content).
func decodeManifests(files map[string][]byte) (*manifests, error) {
	m := new(manifests)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		m.files = append(m.files, name)
		dec := yaml.NewDecoder(bytes.NewReader(files[name]))
		for i := 1; ; i++ {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
			}
			if len(doc.Content) == 0 {
				continue // an empty document
			}
			if err := m.add(&doc); err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
			}
		}
	}
	return m, nil
}

func (m *manifests) add(doc *yaml.Node) error {
	var head struct {
		Kind string `yaml:"kind"`
	}
	if err := doc.Decode(&head); err != nil {
		return err
	}
	switch head.Kind {
	case "Deployment":
		return decodeTo(doc, &m.deployments)
	case "Service":
		return decodeTo(doc, &m.services)
	case "Kustomization":
		return decodeTo(doc, &m.kustomizations)
	}
	return nil
}

// decodeTo decodes doc and appends it to list.
func decodeTo[T any](doc *yaml.Node, list *[]T) error {
	var v T
	if err := doc.Decode(&v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}
