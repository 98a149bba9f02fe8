// Command sluice is the Sluice broker and its tools in one binary.
//
//	sluice serve [flags]   run a broker (see `sluice serve --help`)
//	sluice bench [flags]   measure produce and consume against a broker
package main

import (
	"os"

	"github.com/sluice-io/sluice/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
