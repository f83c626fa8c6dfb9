// Package ecosystem holds drain's tests against other projects' code:
// routers (gin, echo), connect-go, listener wrappers (go-proxyproto,
// netutil.LimitListener), as users combine them with drain. It is a module
// of its own, so that users of drain never download what only these tests
// need; it has no code but its tests.
//
// Run its tests from the repository's root with
//
//	go test -race ./ecosystem
package ecosystem
