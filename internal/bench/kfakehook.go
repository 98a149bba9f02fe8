package bench

import (
	"context"
	"fmt"
	"io"
)

// runKfake serves franz-go's kfake for 'sluice kfake'. It is set only in
// binaries built with the kfake build tag (kfake.go), so that the shipped
// sluice binary does not link a fake broker.
var runKfake func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// errNoKfake explains how to get a binary that can run kfake.
const errNoKfake = "this sluice was built without kfake; build or run it with -tags kfake (go run -tags kfake ./cmd/sluice bench --compare-kfake)"

// RunKfake is the hidden 'sluice kfake' command that 'sluice bench
// --compare-kfake' starts as its comparison broker: franz-go's in-memory
// fake Kafka broker, until ctx is done. Binaries built without the kfake
// build tag refuse it with exit code 2.
func RunKfake(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if runKfake == nil {
		fmt.Fprintf(stderr, "sluice kfake: %s\n", errNoKfake)
		return 2
	}
	return runKfake(ctx, args, stdout, stderr)
}
