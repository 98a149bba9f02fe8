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
	"time"

	"github.com/magiconair/properties"

	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/sluice-io/sluice/internal/registry"
)

const serveUsage = `Usage: sluice serve [flags]

Runs a single-node Kafka-compatible broker. Settings come from, in rising
precedence: defaults, a Kafka-style properties file (--config), SLUICE_*
environment variables, and flags.

  Flag                 Environment              Properties file key
  --listen HOST:PORT   SLUICE_LISTEN            listeners=NAME://HOST:PORT,... (see Listeners)
  --advertised-addr    SLUICE_ADVERTISED_ADDR   advertised.listeners=NAME://HOST:PORT,...
                                                listener.security.protocol.map=NAME:PROTOCOL,...
  --tls-cert FILE      SLUICE_TLS_CERT          ssl.keystore.location=FILE (PEM: key and chain)
  --tls-key FILE       SLUICE_TLS_KEY           ssl.keystore.location
  --tls-client-ca FILE SLUICE_TLS_CLIENT_CA     ssl.truststore.location=FILE (PEM)
  --sasl-mechanisms L  SLUICE_SASL_MECHANISMS   sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
  --data-dir DIR       SLUICE_DATA_DIR          log.dirs
  --node-id N          SLUICE_NODE_ID           node.id
  --config FILE        SLUICE_CONFIG
  --log-level LEVEL    SLUICE_LOG_LEVEL
  --set NAME=VALUE     SLUICE_CFG_<NAME>        NAME=VALUE (any Kafka broker config)
  --super-users LIST   SLUICE_CFG_SUPER_USERS   super.users=User:admin;User:ops (enables ACLs)
  --registry-listen A  SLUICE_REGISTRY_LISTEN   (schema registry HOST:PORT; empty: off)
  --registry-store-timeout D                    (kafkastore.timeout.ms; default 500ms)
  --http-listen A      SLUICE_HTTP_LISTEN       http.listen (console, metrics and health HOST:PORT; empty: off)
  --pprof              SLUICE_PPROF=true        http.pprof.enable=true
  --console=false      SLUICE_CONSOLE=false     http.console.enable=false
  --metrics-partition-series-max N
                       SLUICE_METRICS_PARTITION_SERIES_MAX  metrics.partition.series.max

Cluster mode (both --etcd and --object-store, or neither):
  --etcd URLS          SLUICE_ETCD              (etcd client URLs, comma-separated)
  --etcd-ca FILE       SLUICE_ETCD_CA           (PEM CAs of etcd's certificate)
  --etcd-cert FILE     SLUICE_ETCD_CERT         (PEM client certificate for etcd)
  --etcd-key FILE      SLUICE_ETCD_KEY          (its private key)
  --etcd-user U[:P]    SLUICE_ETCD_USER         (etcd auth; password also SLUICE_ETCD_PASSWORD)
  --object-store URL   SLUICE_OBJECT_STORE      (s3://BUCKET/PREFIX?endpoint=URL&region=R&path_style=true)
  --cluster-id ID      SLUICE_CLUSTER_ID        (etcd key root and Kafka cluster id; default sluice)
  --set cluster.flush.interval.ms=25, cluster.flush.max.bytes=4194304,
        cluster.cache.memory.bytes=268435456, cluster.cache.disk.bytes=0,
        cluster.lease.ttl.ms=10000, cluster.gc.interval.ms=300000,
        cluster.merge.target.bytes=8388608 (0: no merging)

SLUICE_CFG_ names use _ for . (SLUICE_CFG_NUM_PARTITIONS=3 is num.partitions=3).

Listeners: --listen (or, without it and without listeners= in the file,
the default 127.0.0.1:9092) is one listener whose protocol follows the
security flags: PLAINTEXT; SSL with a TLS certificate (--tls-cert and
--tls-key); SASL_PLAINTEXT with --sasl-mechanisms (or
sasl.enabled.mechanisms); SASL_SSL with both. listeners= in the file gives
several named listeners, their protocols from listener.security.protocol.map
(Kafka's default maps PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL to
themselves); clients are told the advertised address of the listener they
came in on. --tls-client-ca makes SSL listeners require client certificates
(ssl.client.auth=required) unless ssl.client.auth says otherwise; their
principal is User:<subject DN>, mapped by ssl.principal.mapping.rules.
SASL users are managed with 'sluice user'; PLAIN checks passwords against
the same (SCRAM) credentials. OAUTHBEARER validates JWTs against the JWKS
file of sasl.oauthbearer.jwks.endpoint.url=file:///PATH. Certificate files
are re-read when they change; connections.max.reauth.ms enables KIP-368
re-authentication.

Schema registry: a Confluent-compatible schema registry (REST API v7/v8,
Avro, Protobuf and JSON Schema, stored in the compacted _schemas topic)
listens on --registry-listen, default 127.0.0.1:8081; --registry-listen=
turns it off. It uses HTTPS with the listeners' certificate when a listener
uses TLS, HTTP basic auth against the SASL users when a listener uses SASL,
client certificates as SSL listeners do, and the ACLs (a subject is a TOPIC
resource of the same name).

Operations: an HTTP listener on --http-listen, default 127.0.0.1:8080
(--http-listen= turns it off), serves /metrics (Prometheus; see
docs/metrics.md), /healthz (alive), /readyz (503 with the reason until the
logs are recovered, the coordinators loaded and the listeners accepting),
the web console at / (unless --console=false) and, with --pprof,
/debug/pprof/. It uses TLS and authentication as the
schema registry does; a scrape sees the series of the topics and groups
its principal may Describe. With more partitions than
metrics.partition.series.max (default 10000; 0: never) the per-partition
series are left out and only per-topic ones remain.

Cluster mode: several brokers share record data in an S3-compatible
object store (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or
the AWS config files) and metadata in etcd; each needs its own --node-id
and --listen/--advertised-addr. It serves produce (idempotent producers
too), fetch, offsets, DeleteRecords, topics, topic configs, metadata and
consumer groups; transactions, ACLs, SASL, quotas and the schema registry
are not built yet: pass --registry-listen '' and no SASL or ACL settings.

Examples:
  sluice serve
  sluice serve --listen 127.0.0.1:19092 --data-dir /tmp/sluice
  sluice serve --set num.partitions=3 --set log.flush.interval.messages=1
  sluice serve --tls-cert server.pem --tls-key server.key --sasl-mechanisms SCRAM-SHA-256,SCRAM-SHA-512

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
		sets     cmdline.MultiFlag
	)
	fs.Var(&sets, "set", "a Kafka broker config NAME=VALUE (repeatable)")
	tlsCert := fs.String("tls-cert", "", "PEM `FILE` with the server certificate chain (TLS listener)")
	tlsKey := fs.String("tls-key", "", "PEM `FILE` with the server certificate's private key")
	tlsCA := fs.String("tls-client-ca", "", "PEM `FILE` of CAs for client certificates (mTLS; implies ssl.client.auth=required)")
	saslMechs := fs.String("sasl-mechanisms", "", "SASL `MECHANISMS` to accept: PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER (SASL listener)")
	registryListen := fs.String("registry-listen", broker.DefaultRegistryListen, "schema registry `HOST:PORT`; empty turns it off")
	registryTimeout := fs.Duration("registry-store-timeout", registry.DefaultStoreTimeout, "schema registry: answer a write 50002 when its _schemas append takes longer (Confluent's kafkastore.timeout.ms)")
	httpListen := fs.String("http-listen", broker.DefaultHTTPListen, "web console, metrics and health `HOST:PORT` (/, /metrics, /healthz, /readyz); empty turns it off")
	pprofOn := fs.Bool("pprof", false, "serve Go's profiler under /debug/pprof/ on --http-listen")
	consoleOn := fs.Bool("console", true, "serve the web console at / on --http-listen")
	seriesMax := fs.String("metrics-partition-series-max", "", "per-partition metric series only up to this many `PARTITIONS` (default 10000; 0: never)")
	etcd := fs.String("etcd", "", "cluster mode: etcd client `URLS`, comma-separated")
	etcdCA := fs.String("etcd-ca", "", "cluster mode: PEM `FILE` of the CAs of etcd's certificate")
	etcdCert := fs.String("etcd-cert", "", "cluster mode: PEM `FILE` with the client certificate for etcd")
	etcdKey := fs.String("etcd-key", "", "cluster mode: PEM `FILE` with the etcd client certificate's key")
	etcdUser := fs.String("etcd-user", "", "cluster mode: etcd `USER[:PASSWORD]` (password also from SLUICE_ETCD_PASSWORD)")
	objStore := fs.String("object-store", "", "cluster mode: object-store `URL` (s3://BUCKET/PREFIX?endpoint=...&region=...&path_style=true)")
	clusterID := fs.String("cluster-id", "", "cluster mode: the cluster's `ID` (etcd key root, Kafka cluster id; default "+broker.DefaultClusterID+")")
	superUsers := fs.String("super-users", "", "principals allowed everything, `User:NAME;...` (super.users); enables the ACL authorizer")
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
	if *superUsers != "" {
		kafka["super.users"] = *superUsers
	}

	// Keys that are fields of broker.Config rather than Kafka configs.
	fromFile := func(key string) (string, error) {
		v, ok := kafka[key]
		if !ok {
			return "", nil
		}
		delete(kafka, key)
		return v, nil
	}
	var s serveSettings
	fileListeners, _ := fromFile("listeners")
	fileAdv, _ := fromFile("advertised.listeners")
	fileProtoMap, _ := fromFile("listener.security.protocol.map")
	keystore, _ := fromFile("ssl.keystore.location")
	keystoreType, _ := fromFile("ssl.keystore.type")
	truststore, _ := fromFile("ssl.truststore.location")
	truststoreType, _ := fromFile("ssl.truststore.type")
	if keystore != "" && !strings.EqualFold(first(keystoreType, "PEM"), "PEM") {
		return serveSettings{}, fmt.Errorf("ssl.keystore.type %q: only PEM key stores are supported", keystoreType)
	}
	if truststore != "" && !strings.EqualFold(first(truststoreType, "PEM"), "PEM") {
		return serveSettings{}, fmt.Errorf("ssl.truststore.type %q: only PEM trust stores are supported", truststoreType)
	}
	fileDirs, _ := fromFile("log.dirs")
	fileDir, _ := fromFile("log.dir")
	if strings.Contains(fileDirs, ",") {
		return serveSettings{}, fmt.Errorf("log.dirs %q: one data directory is supported", fileDirs)
	}
	fileHTTP, fileHTTPSet := kafka["http.listen"]
	delete(kafka, "http.listen")
	filePprof, _ := fromFile("http.pprof.enable")
	fileConsole, _ := fromFile("http.console.enable")
	fileSeriesMax, _ := fromFile("metrics.partition.series.max")
	if err := mapCluster(&s.cfg.Cluster, kafka, getenv, clusterFlags{*etcd, *etcdCA, *etcdCert, *etcdKey, *etcdUser, *objStore, *clusterID}); err != nil {
		return serveSettings{}, err
	}
	fileNode, _ := fromFile("node.id")
	fileBrokerID, _ := fromFile("broker.id")

	s.cfg.TLSCertFile = first(*tlsCert, getenv("SLUICE_TLS_CERT"), keystore)
	s.cfg.TLSKeyFile = first(*tlsKey, getenv("SLUICE_TLS_KEY"), keystore)
	s.cfg.TLSClientCAFile = first(*tlsCA, getenv("SLUICE_TLS_CLIENT_CA"), truststore)
	if (s.cfg.TLSCertFile == "") != (s.cfg.TLSKeyFile == "") {
		return serveSettings{}, errors.New("--tls-cert and --tls-key go together")
	}
	if m := first(*saslMechs, getenv("SLUICE_SASL_MECHANISMS")); m != "" {
		kafka["sasl.enabled.mechanisms"] = strings.ToUpper(m)
	}
	if s.cfg.TLSClientCAFile != "" && kafka["ssl.client.auth"] == "" {
		kafka["ssl.client.auth"] = "required"
	}
	if err := mapListeners(&s.cfg, first(*listen, getenv("SLUICE_LISTEN")), first(*adv, getenv("SLUICE_ADVERTISED_ADDR")),
		fileListeners, fileAdv, fileProtoMap, kafka["sasl.enabled.mechanisms"] != ""); err != nil {
		return serveSettings{}, err
	}
	s.cfg.DataDir = first(*dataDir, getenv("SLUICE_DATA_DIR"), fileDirs, fileDir)
	if n := first(*nodeID, getenv("SLUICE_NODE_ID"), fileNode, fileBrokerID); n != "" {
		id, err := strconv.ParseInt(n, 10, 32)
		if err != nil || id < 0 {
			return serveSettings{}, fmt.Errorf("node id %q: want a non-negative integer", n)
		}
		s.cfg.NodeID = int32(id)
	}
	s.cfg.Kafka = kafka
	s.cfg.RegistryListen = *registryListen
	s.cfg.RegistryStoreTimeout = *registryTimeout
	if v, ok := env["SLUICE_REGISTRY_LISTEN"]; ok && !flagSet(fs, "registry-listen") {
		s.cfg.RegistryListen = v
	}
	s.cfg.HTTPListen = *httpListen
	if v, ok := env["SLUICE_HTTP_LISTEN"]; ok && !flagSet(fs, "http-listen") {
		s.cfg.HTTPListen = v
	} else if fileHTTPSet && !flagSet(fs, "http-listen") {
		s.cfg.HTTPListen = fileHTTP
	}
	if pp := first(boolFlag(fs, "pprof", *pprofOn), getenv("SLUICE_PPROF"), filePprof); pp != "" {
		on, err := strconv.ParseBool(pp)
		if err != nil {
			return serveSettings{}, fmt.Errorf("pprof %q: want true or false", pp)
		}
		s.cfg.PProf = on
	}
	if cs := first(boolFlag(fs, "console", *consoleOn), getenv("SLUICE_CONSOLE"), fileConsole); cs != "" {
		on, err := strconv.ParseBool(cs)
		if err != nil {
			return serveSettings{}, fmt.Errorf("console %q: want true or false", cs)
		}
		s.cfg.NoConsole = !on
	}
	if n := first(*seriesMax, getenv("SLUICE_METRICS_PARTITION_SERIES_MAX"), fileSeriesMax); n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			return serveSettings{}, fmt.Errorf("metrics.partition.series.max %q: want a non-negative integer", n)
		}
		s.cfg.MetricsPartitionSeriesMax = v
		if v == 0 {
			s.cfg.MetricsPartitionSeriesMax = -1 // never per-partition
		}
	}
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

// mapListeners sets cfg's listeners. --listen (or the default address when
// the file has no listeners=) is one listener whose protocol follows the
// security settings: PLAINTEXT, SSL with a certificate, SASL_PLAINTEXT with
// SASL mechanisms, SASL_SSL with both. Otherwise the file's listeners,
// advertised.listeners and listener.security.protocol.map apply. A single
// PLAINTEXT listener is kept as Listen and AdvertisedAddr.
func mapListeners(cfg *broker.Config, listen, adv, fileListeners, fileAdv, protoMap string, sasl bool) error {
	var ls []broker.Listener
	if listen != "" || fileListeners == "" {
		proto := broker.ProtocolPlaintext
		switch tls := cfg.TLSCertFile != ""; {
		case tls && sasl:
			proto = broker.ProtocolSASLSSL
		case tls:
			proto = broker.ProtocolSSL
		case sasl:
			proto = broker.ProtocolSASLPlaintext
		}
		if adv == "" && fileAdv != "" {
			parts := strings.Split(fileAdv, ",")
			_, addr, ok := strings.Cut(strings.TrimSpace(parts[0]), "://")
			if len(parts) != 1 || !ok {
				return fmt.Errorf("advertised.listeners %q: with --listen, want one NAME://HOST:PORT", fileAdv)
			}
			adv = addr
		}
		ls = []broker.Listener{{Name: string(proto), Protocol: proto, Addr: listen, Advertised: adv}}
	} else {
		var err error
		if ls, err = broker.ParseListeners(fileListeners, fileAdv, protoMap); err != nil {
			return err
		}
		if adv != "" {
			if len(ls) != 1 {
				return fmt.Errorf("--advertised-addr %q: the config file has %d listeners; use advertised.listeners", adv, len(ls))
			}
			ls[0].Advertised = adv
		}
	}
	for _, l := range ls {
		if l.Protocol.TLS() && cfg.TLSCertFile == "" {
			return fmt.Errorf("listener %s is %s: it needs a TLS certificate (--tls-cert and --tls-key, or ssl.keystore.location)", l.Name, l.Protocol)
		}
	}
	if len(ls) == 1 && ls[0].Protocol == broker.ProtocolPlaintext {
		cfg.Listen, cfg.AdvertisedAddr = ls[0].Addr, ls[0].Advertised
		return nil
	}
	for i := range ls {
		if ls[i].Addr == "" {
			ls[i].Addr = broker.DefaultListen
		}
	}
	cfg.Listeners = ls
	return nil
}

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

// flagSet reports whether the command line gave the flag (even empty).
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// boolFlag is a bool flag's value as text when the command line gave it,
// else "".
func boolFlag(fs *flag.FlagSet, name string, v bool) string {
	if !flagSet(fs, name) {
		return ""
	}
	return strconv.FormatBool(v)
}

// clusterFlags are the cluster-mode flags as given.
type clusterFlags struct {
	etcd, ca, cert, key, user, objectStore, id string
}

// mapCluster fills cluster mode's settings from the flags, SLUICE_*
// variables and the cluster.* keys of the broker configs (taken out of
// kafka: they are no Kafka broker configs).
func mapCluster(cc *broker.ClusterConfig, kafka map[string]string, getenv func(string) string, f clusterFlags) error {
	first := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	if e := first(f.etcd, getenv("SLUICE_ETCD")); e != "" {
		for _, u := range strings.Split(e, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cc.Etcd = append(cc.Etcd, u)
			}
		}
	}
	cc.EtcdCAFile = first(f.ca, getenv("SLUICE_ETCD_CA"))
	cc.EtcdCertFile = first(f.cert, getenv("SLUICE_ETCD_CERT"))
	cc.EtcdKeyFile = first(f.key, getenv("SLUICE_ETCD_KEY"))
	if u := first(f.user, getenv("SLUICE_ETCD_USER")); u != "" {
		name, pass, hasPass := strings.Cut(u, ":")
		if !hasPass {
			pass = getenv("SLUICE_ETCD_PASSWORD")
		}
		cc.EtcdUser, cc.EtcdPassword = name, pass
	}
	cc.ObjectStore = first(f.objectStore, getenv("SLUICE_OBJECT_STORE"))
	cc.ID = first(f.id, getenv("SLUICE_CLUSTER_ID"))
	num := func(key string) (int64, bool, error) {
		v, ok := kafka[key]
		if !ok {
			return 0, false, nil
		}
		delete(kafka, key)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, false, fmt.Errorf("%s %q: want a non-negative integer", key, v)
		}
		return n, true, nil
	}
	for _, k := range []struct {
		key string
		set func(int64)
	}{
		{"cluster.flush.interval.ms", func(n int64) { cc.FlushInterval = time.Duration(n) * time.Millisecond }},
		{"cluster.flush.max.bytes", func(n int64) { cc.FlushMaxBytes = int(n) }},
		{"cluster.cache.memory.bytes", func(n int64) {
			cc.CacheMemoryBytes = n
			if n == 0 {
				cc.CacheMemoryBytes = -1 // off
			}
		}},
		{"cluster.cache.disk.bytes", func(n int64) { cc.CacheDiskBytes = n }},
		{"cluster.lease.ttl.ms", func(n int64) { cc.LeaseTTL = time.Duration(n) * time.Millisecond }},
		{"cluster.gc.interval.ms", func(n int64) { cc.GCInterval = time.Duration(n) * time.Millisecond }},
		{"cluster.merge.target.bytes", func(n int64) {
			cc.MergeTargetBytes = n
			if n == 0 {
				cc.MergeTargetBytes = -1 // off
			}
		}},
	} {
		n, ok, err := num(k.key)
		if err != nil {
			return err
		}
		if ok {
			k.set(n)
		}
	}
	if cc.Enabled() && (len(cc.Etcd) == 0 || cc.ObjectStore == "") {
		return errors.New("cluster mode needs both --etcd and --object-store")
	}
	return nil
}
