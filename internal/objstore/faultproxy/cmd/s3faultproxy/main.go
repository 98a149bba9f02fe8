// Command s3faultproxy runs the fault-injecting proxy of package faultproxy
// in front of an S3 endpoint, for the cluster's fault runs:
//
//	go run ./internal/objstore/faultproxy/cmd/s3faultproxy -target http://127.0.0.1:7070 \
//	    -listen 127.0.0.1:0 -rules '[{"ops":["put"],"error_rate":0.2}]'
//
// It prints its base URL on stdout (point the object-store URL's endpoint
// at it) and serves until interrupted; PUT /_faultproxy/rules changes the
// rules while it runs, GET /_faultproxy/stats counts requests and faults.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluice-io/sluice/internal/objstore/faultproxy"
)

func main() {
	target := flag.String("target", "", "the S3 endpoint to forward to (http://host:port)")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	seed := flag.Uint64("seed", 1, "seed of the random fault choices")
	rules := flag.String("rules", "[]", "initial rules, a JSON array (see package faultproxy)")
	flag.Parse()
	if err := run(*target, *listen, *seed, *rules); err != nil {
		slog.Error("s3faultproxy", "err", err)
		os.Exit(1)
	}
}

func run(target, listen string, seed uint64, rulesJSON string) error {
	p, err := faultproxy.New(target, seed)
	if err != nil {
		return err
	}
	rules, err := faultproxy.ParseRules(strings.NewReader(rulesJSON))
	if err != nil {
		return err
	}
	p.SetRules(rules...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	base, stopProxy, err := p.Listen(ctx, listen)
	if err != nil {
		return err
	}
	fmt.Println(base)
	<-ctx.Done()
	stopProxy()
	return nil
}
