// Package e2e holds end-to-end tests that put drain's demo server behind
// real infrastructure: a rolling restart of two instances behind HAProxy
// (apt-get install haproxy; the test skips without it, and fails in CI).
package e2e
