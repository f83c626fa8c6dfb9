module github.com/drain-go/drain

go 1.25.0

require (
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.50.0
)

require golang.org/x/text v0.34.0 // indirect
