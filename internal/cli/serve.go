package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/magiconair/properties"

	"github.com/sluice-io/sluice/internal/broker"
)

const serveUsage = `Usage: sluice serve [flags]

Runs a single-node Kafka-compatible broker. Settings come from, in rising
precedence: defaults, a Kafka-style properties file (--config), SLUICE_*
environment variables, and flags.

  Flag                 Environment              Properties file key
  --listen HOST:PORT   SLUICE_LISTEN            listeners=PLAINTEXT://HOST:PORT
  --advertised-addr    SLUICE_ADVERTISED_ADDR   advertised.listeners=PLAINTEXT://HOST:PORT
  --data-dir DIR       SLUICE_DATA_DIR          log.dirs
  --node-id N          SLUICE_NODE_ID           node.id
  --config FILE        SLUICE_CONFIG
  --log-level LEVEL    SLUICE_LOG_LEVEL
  --set NAME=VALUE     SLUICE_CFG_<NAME>        NAME=VALUE (any Kafka broker config)

SLUICE_CFG_ names use _ for . (SLUICE_CFG_NUM_PARTITIONS=3 is num.partitions=3).

Examples:
  sluice serve
  sluice serve --listen 127.0.0.1:19092 --data-dir /tmp/sluice
  sluice serve --set num.partitions=3 --set log.flush.interval.messages=1

Flags:
`

// serveSettings are the command line's view of a broker.Config.
type serveSettings struct {
	cfg        broker.Config
	logLevel   slog.Level
	cpuProfile string
}

// loadServeConfig maps the properties file, environment and flags onto one
// broker.Config. It is separate from runServe so it can be tested.
func loadServeConfig(args []string, environ []string, stderr io.Writer) (serveSettings, error) {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, serveUsage); fs.PrintDefaults() }
	var (
		listen   = fs.String("listen", "", "address to accept Kafka clients on (default "+broker.DefaultListen+")")
		adv      = fs.String("advertised-addr", "", "host:port given to clients in metadata (default: the bound address)")
		dataDir  = fs.String("data-dir", "", "directory for topic logs and metadata (default "+broker.DefaultDataDir+")")
		nodeID   = fs.String("node-id", "", "broker id (default 1)")
		cfgFile  = fs.String("config", "", "Kafka-style properties file")
		logLevel = fs.String("log-level", "", "debug, info, warn or error (default info)")
		cpuProf  = fs.String("cpu-profile", "", "write a Go CPU profile of the whole run to this file (diagnostics)")
		sets     multiFlag
	)
	fs.Var(&sets, "set", "a Kafka broker config NAME=VALUE (repeatable)")
	if err := fs.Parse(args); err != nil {
		return serveSettings{}, err
	}
	if fs.NArg() > 0 {
		return serveSettings{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	kafka := map[string]string{}
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	if path := first(*cfgFile, getenv("SLUICE_CONFIG")); path != "" {
		p, err := properties.LoadFile(path, properties.UTF8)
		if err != nil {
			return serveSettings{}, fmt.Errorf("reading config file: %w", err)
		}
		for _, k := range p.Keys() {
			kafka[k], _ = p.Get(k)
		}
	}
	for name, val := range env {
		if rest, ok := strings.CutPrefix(name, "SLUICE_CFG_"); ok && val != "" {
			kafka[strings.ToLower(strings.ReplaceAll(rest, "_", "."))] = val
		}
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return serveSettings{}, fmt.Errorf("--set %q: want NAME=VALUE", s)
		}
		kafka[k] = v
	}

	// Keys that are fields of broker.Config rather than Kafka configs.
	fromFile := func(key string) (string, error) {
		v, ok := kafka[key]
		if !ok {
			return "", nil
		}
		delete(kafka, key)
		if key == "listeners" || key == "advertised.listeners" {
			return plaintextListener(key, v)
		}
		return v, nil
	}
	fileListen, err := fromFile("listeners")
	if err != nil {
		return serveSettings{}, err
	}
	fileAdv, err := fromFile("advertised.listeners")
	if err != nil {
		return serveSettings{}, err
	}
	fileDirs, _ := fromFile("log.dirs")
	fileDir, _ := fromFile("log.dir")
	if strings.Contains(fileDirs, ",") {
		return serveSettings{}, fmt.Errorf("log.dirs %q: one data directory is supported", fileDirs)
	}
	fileNode, _ := fromFile("node.id")
	fileBrokerID, _ := fromFile("broker.id")

	var s serveSettings
	s.cfg.Listen = first(*listen, getenv("SLUICE_LISTEN"), fileListen)
	s.cfg.AdvertisedAddr = first(*adv, getenv("SLUICE_ADVERTISED_ADDR"), fileAdv)
	s.cfg.DataDir = first(*dataDir, getenv("SLUICE_DATA_DIR"), fileDirs, fileDir)
	if n := first(*nodeID, getenv("SLUICE_NODE_ID"), fileNode, fileBrokerID); n != "" {
		id, err := strconv.ParseInt(n, 10, 32)
		if err != nil || id < 0 {
			return serveSettings{}, fmt.Errorf("node id %q: want a non-negative integer", n)
		}
		s.cfg.NodeID = int32(id)
	}
	s.cfg.Kafka = kafka
	s.cpuProfile = *cpuProf
	switch lvl := strings.ToLower(first(*logLevel, getenv("SLUICE_LOG_LEVEL"), "info")); lvl {
	case "debug":
		s.logLevel = slog.LevelDebug
	case "info":
		s.logLevel = slog.LevelInfo
	case "warn", "warning":
		s.logLevel = slog.LevelWarn
	case "error":
		s.logLevel = slog.LevelError
	default:
		return serveSettings{}, fmt.Errorf("log level %q: want debug, info, warn or error", lvl)
	}
	return s, nil
}

// plaintextListener takes HOST:PORT out of a Kafka listener list; only one
// PLAINTEXT listener is served until the security work adds more.
func plaintextListener(key, v string) (string, error) {
	parts := strings.Split(v, ",")
	if len(parts) != 1 {
		return "", fmt.Errorf("%s %q: one listener is supported", key, v)
	}
	proto, addr, ok := strings.Cut(strings.TrimSpace(parts[0]), "://")
	if !ok {
		return "", fmt.Errorf("%s %q: want PLAINTEXT://HOST:PORT", key, v)
	}
	if !strings.EqualFold(proto, "PLAINTEXT") {
		return "", fmt.Errorf("%s %q: only PLAINTEXT listeners are supported", key, v)
	}
	return addr, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runServe(ctx context.Context, args []string, environ []string, _, stderr io.Writer) int {
	s, err := loadServeConfig(args, environ, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice serve: %v\n", err)
		return 2
	}
	s.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: s.logLevel}))
	if s.cpuProfile != "" {
		f, err := os.Create(s.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "sluice serve: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "sluice serve: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	b, err := broker.New(s.cfg)
	if err != nil {
		fmt.Fprintf(stderr, "sluice serve: %v\n", err)
		return 1
	}
	if err := b.Serve(ctx); err != nil {
		fmt.Fprintf(stderr, "sluice serve: %v\n", err)
		return 1
	}
	return 0
}
