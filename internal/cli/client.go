package cli

// Shared plumbing of the client commands (topic, produce, consume, group,
// cluster): the connection flags every one of them takes, flag parsing that
// allows flags after positional arguments, help and error conventions.
//
// Conventions: explicit --help prints to stdout and exits 0; a usage mistake
// prints one line "sluice CMD: reason" on stderr and exits 2; any other
// failure prints one line the same way and exits 1.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// stdin is what 'sluice produce' reads; tests replace it.
var stdin io.Reader = os.Stdin

// defaultBrokers is used when neither --brokers nor SLUICE_BROKERS is set.
const defaultBrokers = "127.0.0.1:9092"

// cmdIO is what a client command reads and writes besides its arguments.
type cmdIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// usageError marks a mistake on the command line (exit code 2).
type usageError struct{ error }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode prints err as one line for command name and returns the exit
// code: 0 for nil and for --help (already printed), 2 for usage errors, 1
// otherwise.
func exitCode(stderr io.Writer, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	if _, ok := errors.AsType[usageError](err); ok {
		code = 2
	}
	fmt.Fprintf(stderr, "sluice %s: %s\n", name, oneLine(err.Error()))
	return code
}

// oneLine folds a message onto a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// command is one client command: its flags in two groups (its own, and the
// shared connection flags) and its help text.
type command struct {
	name  string // "topic create"
	usage string // text before the flag list, ending in "Flags:\n"
	own   *flag.FlagSet
	conn  *flag.FlagSet // nil for commands that do not connect
	cf    *clientFlags
	io    *cmdIO
}

// newCommand starts a command; its own flags are registered on c.own.
// withConn adds the connection flags.
func newCommand(cio *cmdIO, name, usage string, withConn bool) *command {
	c := &command{name: name, usage: usage, io: cio, own: flag.NewFlagSet(name, flag.ContinueOnError)}
	if withConn {
		c.conn = flag.NewFlagSet(name, flag.ContinueOnError)
		c.cf = registerClientFlags(c.conn)
	}
	return c
}

// parse parses args, allowing flags before, between and after positional
// arguments ("--" ends the flags), and returns the positional arguments. On
// --help it prints the help to stdout and returns flag.ErrHelp.
func (c *command) parse(args []string) ([]string, error) {
	all := flag.NewFlagSet(c.name, flag.ContinueOnError)
	all.SetOutput(io.Discard)
	all.Usage = func() {}
	for _, fs := range []*flag.FlagSet{c.own, c.conn} {
		if fs != nil {
			fs.VisitAll(func(f *flag.Flag) { all.Var(f.Value, f.Name, f.Usage) })
		}
	}
	var pos []string
	for {
		if err := all.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.printHelp(c.io.stdout)
				return nil, err
			}
			return nil, usagef("%v (run 'sluice %s --help')", err, c.name)
		}
		rest := all.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if c.cf != nil {
		if err := c.cf.finish(c.io.getenv); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

func (c *command) printHelp(w io.Writer) {
	fmt.Fprint(w, c.usage)
	c.own.SetOutput(w)
	c.own.PrintDefaults()
	if c.conn != nil {
		fmt.Fprint(w, "\nConnection flags:\n")
		c.conn.SetOutput(w)
		c.conn.PrintDefaults()
	}
}

// clientFlags are the connection settings every client command takes.
type clientFlags struct {
	brokers   string
	clientID  string
	timeout   time.Duration
	tls       bool
	tlsCA     string
	tlsCert   string
	tlsKey    string
	tlsNoVer  bool
	mechanism string
	user      string
	password  string

	seeds []string // parsed brokers
}

func registerClientFlags(fs *flag.FlagSet) *clientFlags {
	cf := &clientFlags{}
	fs.StringVar(&cf.brokers, "brokers", "", "bootstrap brokers `HOST:PORT,...` (default $SLUICE_BROKERS, else "+defaultBrokers+")")
	fs.StringVar(&cf.clientID, "client-id", "sluice", "client id sent to the brokers")
	fs.DurationVar(&cf.timeout, "timeout", 30*time.Second, "give up on the brokers after this long (connecting, requests, delivering records)")
	fs.BoolVar(&cf.tls, "tls", false, "connect with TLS (implied by the other --tls flags)")
	fs.StringVar(&cf.tlsCA, "tls-ca", "", "PEM `FILE` of CA certificates to verify the brokers with (default: the system's)")
	fs.StringVar(&cf.tlsCert, "tls-cert", "", "PEM `FILE` with a client certificate (with --tls-key)")
	fs.StringVar(&cf.tlsKey, "tls-key", "", "PEM `FILE` with the client certificate's private key (with --tls-cert)")
	fs.BoolVar(&cf.tlsNoVer, "tls-insecure-skip-verify", false, "do not verify the brokers' certificates (testing only)")
	fs.StringVar(&cf.mechanism, "sasl-mechanism", "", "authenticate with SASL `MECHANISM`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&cf.user, "user", "", "SASL user name")
	fs.StringVar(&cf.password, "password", "", "SASL password (default $SLUICE_PASSWORD; prefer the environment, flags show in ps)")
	return cf
}

// finish fills defaults from the environment and validates combinations.
func (cf *clientFlags) finish(getenv func(string) string) error {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	brokers := cf.brokers
	if brokers == "" {
		brokers = getenv("SLUICE_BROKERS")
	}
	if brokers == "" {
		brokers = defaultBrokers
	}
	cf.seeds = nil
	for _, b := range strings.Split(brokers, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(b); err != nil {
			if strings.Contains(b, ":") && !strings.HasPrefix(b, "[") {
				return usagef("--brokers %q: want HOST:PORT", b)
			}
			b = net.JoinHostPort(strings.Trim(b, "[]"), "9092")
		}
		cf.seeds = append(cf.seeds, b)
	}
	if len(cf.seeds) == 0 {
		return usagef("--brokers %q: no broker addresses", brokers)
	}
	if cf.timeout <= 0 {
		return usagef("--timeout %v: want a positive duration", cf.timeout)
	}
	if (cf.tlsCert == "") != (cf.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if cf.tlsCA != "" || cf.tlsCert != "" || cf.tlsNoVer {
		cf.tls = true
	}
	if cf.password == "" {
		cf.password = getenv("SLUICE_PASSWORD")
	}
	switch m := strings.ToUpper(cf.mechanism); m {
	case "":
		if cf.user != "" {
			return usagef("--user needs --sasl-mechanism")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		cf.mechanism = m
		if cf.user == "" {
			return usagef("--sasl-mechanism %s needs --user", m)
		}
		if cf.password == "" {
			return usagef("--sasl-mechanism %s needs a password (--password or SLUICE_PASSWORD)", m)
		}
	default:
		return usagef("--sasl-mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", cf.mechanism)
	}
	return nil
}

// tlsConfig builds the TLS settings, or nil without TLS.
func (cf *clientFlags) tlsConfig() (*tls.Config, error) {
	if !cf.tls {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cf.tlsNoVer} //nolint:gosec // opt-in flag
	if cf.tlsCA != "" {
		pem, err := os.ReadFile(cf.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificates found", cf.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if cf.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cf.tlsCert, cf.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// opts are the kgo options for the connection flags.
func (cf *clientFlags) opts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(cf.seeds...),
		kgo.ClientID(cf.clientID),
		kgo.RetryTimeout(cf.timeout),
		kgo.DialTimeout(min(cf.timeout, 10*time.Second)),
	}
	tc, err := cf.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch cf.mechanism {
	case "PLAIN":
		opts = append(opts, kgo.SASL(plain.Auth{User: cf.user, Pass: cf.password}.AsMechanism()))
	case "SCRAM-SHA-256":
		opts = append(opts, kgo.SASL(scram.Auth{User: cf.user, Pass: cf.password}.AsSha256Mechanism()))
	case "SCRAM-SHA-512":
		opts = append(opts, kgo.SASL(scram.Auth{User: cf.user, Pass: cf.password}.AsSha512Mechanism()))
	}
	return opts, nil
}

// connect builds a client with the connection flags plus extra and checks
// that a broker answers, so an unreachable cluster is one clear error
// rather than a long wait.
func (cf *clientFlags) connect(ctx context.Context, extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := cf.opts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if pctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", cf.timeout)
		}
		return nil, fmt.Errorf("cannot reach %s: %w", strings.Join(cf.seeds, ","), err)
	}
	return cl, nil
}

// admin connects and returns an admin client; close it with Close.
func (cf *clientFlags) admin(ctx context.Context) (*kadm.Client, error) {
	cl, err := cf.connect(ctx)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(cf.timeout, time.Hour) / time.Millisecond))
	return adm, nil
}

// adminSession connects an admin client and bounds the command's requests
// by --timeout; done releases both.
func (cf *clientFlags) adminSession(ctx context.Context) (*kadm.Client, context.Context, func(), error) {
	adm, err := cf.admin(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	rctx, cancel := cf.requestCtx(ctx)
	return adm, rctx, func() { cancel(); adm.Close() }, nil
}

// noArgs refuses positional arguments of a command that takes none.
// one returns the single positional argument of c, named what ("TOPIC",
// "topic NAME") in the usage error when there is not exactly one.
func (c *command) one(pos []string, what string) (string, error) {
	if len(pos) != 1 {
		return "", usagef("want one %s (run 'sluice %s --help')", what, c.name)
	}
	return pos[0], nil
}

func noArgs(pos []string) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	return nil
}

// requestCtx bounds one administrative step by --timeout.
func (cf *clientFlags) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, cf.timeout)
}

// brokerError is a broker's error code with the message it sent along.
type brokerError struct {
	err error // a *kerr.Error
	msg string
}

func (e *brokerError) Error() string {
	var ke *kerr.Error
	if errors.As(e.err, &ke) {
		return ke.Message + ": " + e.msg
	}
	return e.err.Error() + ": " + e.msg
}

func (e *brokerError) Unwrap() error { return e.err }

// describeErr adds the broker's message, if any, to its error code:
// "TOPIC_ALREADY_EXISTS: Topic 'x' already exists."
func describeErr(err error, msg string) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if msg != "" && (!errors.As(err, &ke) || msg != ke.Description) {
		return &brokerError{err, msg}
	}
	return err
}

// requestErr explains a failed request: a timeout, an interruption, an
// API the broker lacks, or the broker's error.
func requestErr(ctx context.Context, cf *clientFlags, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return errors.New("interrupted")
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer from the brokers within %v (--timeout)", cf.timeout)
	}
	api := ""
	if se, ok := errors.AsType[*kadm.ShardErrors](err); ok && len(se.Errs) > 0 {
		err = se.Errs[0].Err
		if req := se.Errs[0].Req; req != nil {
			api = kmsg.NameForKey(req.Key())
		}
	}
	// kgo's error for an API missing from the broker's ApiVersions.
	if strings.HasPrefix(err.Error(), "broker is too old") {
		if api == "" {
			return errors.New("the broker does not support this request")
		}
		return fmt.Errorf("the broker does not support %s requests", api)
	}
	return err
}

// family dispatches "sluice NAME SUBCOMMAND ...".
type family struct {
	name  string
	usage string
	subs  map[string]func(ctx context.Context, cio *cmdIO, args []string) error
}

func (f *family) run(ctx context.Context, cio *cmdIO, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(cio.stderr, f.usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if sub, ok := f.subs[args[1]]; ok {
				return exitCode(cio.stderr, f.name+" "+args[1], sub(ctx, cio, []string{"--help"}))
			}
		}
		fmt.Fprint(cio.stdout, f.usage)
		return 0
	}
	sub, ok := f.subs[args[0]]
	if !ok {
		fmt.Fprintf(cio.stderr, "sluice %s: unknown command %q (run 'sluice %s --help')\n", f.name, args[0], f.name)
		return 2
	}
	return exitCode(cio.stderr, f.name+" "+args[0], sub(ctx, cio, args[1:]))
}

// single runs a command that has no subcommands.
func single(ctx context.Context, cio *cmdIO, name string, fn func(context.Context, *cmdIO, []string) error, args []string) int {
	return exitCode(cio.stderr, name, fn(ctx, cio, args))
}
