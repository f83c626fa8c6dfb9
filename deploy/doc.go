// Package deploy holds the container image and the Kubernetes manifests
// of the demo server (examples/seed), and the test that keeps them in
// agreement with the demo's flags and with drain's timing. It has no code
// of its own.
//
//	docker build -f deploy/Dockerfile -t drain-seed:latest .
//	kubectl apply -k deploy/kubernetes
//	go test ./deploy/
//
// The test parses the Dockerfile and every manifest, parses the
// container's args with the demo's own flag parser, and checks that:
//
//   - the image runs the server as PID 1 (exec-form ENTRYPOINT, no
//     command override), stops it with SIGTERM, as a user other than
//     root, and exposes and listens on the container's port;
//   - /readyz and /livez are probed on the port the demo listens on;
//   - the shutdown delay outlasts readiness detection plus endpoint
//     propagation, with no preStop hook in front of it;
//   - -timeout covers the delay, the longest request and IdleGrace;
//   - terminationGracePeriodSeconds covers -timeout plus the cleanup
//     reserve;
//   - the Service sends its traffic to that port.
//
// docs/rollouts.md explains the arithmetic.
package deploy
