module github.com/drain-go/drain

go 1.26.8

require (
	github.com/coder/websocket v1.8.15
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.62.0
)

require golang.org/x/text v0.43.0 // indirect
