package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Guarantee is an app's processing guarantee.
type Guarantee int

const (
	// AtLeastOnce commits a batch's offsets after its effects (records
	// sent, changelog writes) are acknowledged; a crash may process the
	// last batch again. Faust's default.
	AtLeastOnce Guarantee = iota
	// ExactlyOnce processes each batch in one Kafka transaction: its
	// effects and its offsets commit together or not at all.
	ExactlyOnce
)

// String returns "at-least-once" or "exactly-once" (Faust's names).
func (g Guarantee) String() string {
	switch g {
	case AtLeastOnce:
		return "at-least-once"
	case ExactlyOnce:
		return "exactly-once"
	}
	return fmt.Sprintf("Guarantee(%d)", int(g))
}

// ParseGuarantee parses "at-least-once" or "exactly-once".
func ParseGuarantee(s string) (Guarantee, error) {
	switch s {
	case "at-least-once", "at_least_once":
		return AtLeastOnce, nil
	case "exactly-once", "exactly_once":
		return ExactlyOnce, nil
	}
	return 0, fmt.Errorf("streams: unknown processing guarantee %q (want at-least-once or exactly-once)", s)
}

// Errors returned by the package (test them with errors.Is).
var (
	// ErrStarted is returned when the topology is changed, or Run called,
	// after Run started.
	ErrStarted = errors.New("streams: app already started")
	// ErrTopology reports a topology that cannot run: duplicate names,
	// co-partitioning violations, topics whose partition counts differ
	// from their declaration.
	ErrTopology = errors.New("streams: invalid topology")
	// ErrAgentStopped is returned by Run when an agent's function returned
	// (or panicked) while its stream still had events.
	ErrAgentStopped = errors.New("streams: agent stopped")
	// ErrNotOwned is the sticky error of a table read or write for a
	// partition this worker does not own.
	ErrNotOwned = errors.New("streams: table partition not owned by this worker")
)

// App is a stream-processing application: its id names its consumer group
// and prefixes its internal topics. Declare its topics, channels, agents
// and tables, then call Run in each worker process.
type App struct {
	id  string
	cfg appConfig

	mu       sync.Mutex
	started  bool
	topics   map[string]*topicSpec
	agents   []*agentSpec
	tables   []*tableSpec
	timers   []*timerSpec
	producer *kgo.Client // for sends outside agents' batches; created lazily
	mem      *memBroker  // the Driver's in-memory log, instead of Kafka
	driver   *Driver     // the Driver running the app, with mem

	replyMu sync.Mutex
	hubs    map[string]*replyHub // reply topics read for Ask

	stats   appStats
	w       *worker // the running worker, while Run runs
	declErr error   // the first invalid declaration, returned by Run

	joins *joinTopo // the join processor, when joins or TableOf tables are declared
	qsrv  *queryServer

	restored, standbyApplied atomic.Int64 // RestoreStats
	metrics                  *appMetrics  // nil without the Metrics option
}

type appConfig struct {
	brokers         []string
	stateDir        string
	guarantee       Guarantee
	logger          *slog.Logger
	kopts           []kgo.Opt
	partitions      int32
	replication     int16
	inMemory        bool
	onDecodeError   DecodeErrorHandler
	instanceID      string
	maxPollRecords  int
	now             func() time.Time
	query           queryConfig
	standbys        int
	registerer      prometheus.Registerer
	recoveryLag     int64
	probingInterval time.Duration
}

// Option configures NewApp.
type Option func(*appConfig) error

// Brokers sets the seed brokers (default 127.0.0.1:9092).
func Brokers(addrs ...string) Option {
	return func(c *appConfig) error {
		var out []string
		for _, a := range addrs {
			for _, s := range strings.Split(a, ",") {
				if s = strings.TrimSpace(s); s != "" {
					out = append(out, s)
				}
			}
		}
		if len(out) == 0 {
			return errors.New("streams: Brokers needs at least one address")
		}
		c.brokers = out
		return nil
	}
}

// StateDir sets the directory of the tables' local stores (default
// ./state); each app keeps its stores under StateDir/APPID.
func StateDir(dir string) Option {
	return func(c *appConfig) error {
		if dir == "" {
			return errors.New("streams: StateDir must not be empty")
		}
		c.stateDir = dir
		return nil
	}
}

// InMemoryState keeps tables in memory instead of local stores on disk:
// every assignment restores from the changelog. For tests and small tables.
func InMemoryState() Option {
	return func(c *appConfig) error { c.inMemory = true; return nil }
}

// ProcessingGuarantee sets AtLeastOnce (default) or ExactlyOnce.
func ProcessingGuarantee(g Guarantee) Option {
	return func(c *appConfig) error {
		if g != AtLeastOnce && g != ExactlyOnce {
			return fmt.Errorf("streams: unknown processing guarantee %d", int(g))
		}
		c.guarantee = g
		return nil
	}
}

// Logger sets the logger (default: slog.Default()).
func Logger(l *slog.Logger) Option {
	return func(c *appConfig) error {
		if l == nil {
			return errors.New("streams: nil Logger")
		}
		c.logger = l
		return nil
	}
}

// ClientOpts adds franz-go options to every client the app creates (TLS,
// SASL, client id, ...). Options the app sets itself (group, topics,
// transactional id, isolation level) win.
func ClientOpts(opts ...kgo.Opt) Option {
	return func(c *appConfig) error { c.kopts = append(c.kopts, opts...); return nil }
}

// TopicPartitions sets the partition count of topics the app creates whose
// declaration gives none (default 8, Faust's topic_partitions).
func TopicPartitions(n int32) Option {
	return func(c *appConfig) error {
		if n < 1 {
			return fmt.Errorf("streams: TopicPartitions %d < 1", n)
		}
		c.partitions = n
		return nil
	}
}

// TopicReplication sets the replication factor of topics the app creates
// (default -1: the broker's default.replication.factor).
func TopicReplication(n int16) Option {
	return func(c *appConfig) error {
		if n < -1 || n == 0 {
			return fmt.Errorf("streams: TopicReplication %d (want -1 or >= 1)", n)
		}
		c.replication = n
		return nil
	}
}

// InstanceID names this worker (default: host name and process id). Under
// ExactlyOnce it is part of the transactional id, so a worker restarted
// with the same id fences its previous incarnation at once instead of
// waiting for its transaction to time out.
func InstanceID(id string) Option {
	return func(c *appConfig) error {
		if id == "" {
			return errors.New("streams: empty InstanceID")
		}
		c.instanceID = id
		return nil
	}
}

// MaxPollRecords bounds a batch (default 10000).
func MaxPollRecords(n int) Option {
	return func(c *appConfig) error {
		if n < 1 {
			return fmt.Errorf("streams: MaxPollRecords %d < 1", n)
		}
		c.maxPollRecords = n
		return nil
	}
}

// Clock sets the app's clock (default time.Now): the times at which Every
// and Crontab timers fire, App.Now, and under a Driver the starting time of
// its fake clock and the timestamps of records. Take's within windows run
// on real time.
func Clock(now func() time.Time) Option {
	return func(c *appConfig) error {
		if now == nil {
			return errors.New("streams: nil Clock")
		}
		c.now = now
		return nil
	}
}

// NewApp returns an app with the given id.
func NewApp(id string, opts ...Option) (*App, error) {
	if err := validName(id); err != nil {
		return nil, fmt.Errorf("streams: app id: %w", err)
	}
	host, _ := os.Hostname()
	cfg := appConfig{
		brokers:         []string{"127.0.0.1:9092"},
		stateDir:        "state",
		logger:          slog.Default(),
		partitions:      8,
		replication:     -1,
		onDecodeError:   SkipDecodeErrors(),
		instanceID:      fmt.Sprintf("%s-%d", host, os.Getpid()),
		maxPollRecords:  10000,
		now:             time.Now,
		recoveryLag:     DefaultAcceptableRecoveryLag,
		probingInterval: DefaultProbingRebalanceInterval,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	a := &App{id: id, cfg: cfg, topics: map[string]*topicSpec{}}
	if cfg.registerer != nil {
		m, err := newAppMetrics(id, cfg.registerer)
		if err != nil {
			return nil, err
		}
		a.metrics = m
	}
	return a, nil
}

type appStats struct {
	decodeErrors, events, batches, aborted atomic.Int64
	late                                   atomic.Int64 // records dropped by windowed tables
}

// Stats are an app's counters since NewApp.
type Stats struct {
	// Events is the number of records handed to agents.
	Events int64
	// Batches is the number of batches committed.
	Batches int64
	// Aborted is the number of batches whose transaction aborted
	// (ExactlyOnce), to be processed again.
	Aborted int64
	// DecodeErrors is the number of records no agent could decode.
	DecodeErrors int64
	// LateRecords is the number of records windowed tables dropped
	// because every window they belong to had closed (see WindowedTable).
	LateRecords int64
}

// Stats returns the app's counters.
func (a *App) Stats() Stats {
	return Stats{
		Events:       a.stats.events.Load(),
		Batches:      a.stats.batches.Load(),
		Aborted:      a.stats.aborted.Load(),
		DecodeErrors: a.stats.decodeErrors.Load(),
		LateRecords:  a.stats.late.Load(),
	}
}

// ID returns the app's id.
func (a *App) ID() string { return a.id }

// Guarantee returns the app's processing guarantee.
func (a *App) Guarantee() Guarantee { return a.cfg.guarantee }

// AgentInfo describes a declared agent.
type AgentInfo struct {
	Name        string
	Source      string // topic or channel name
	Concurrency int
}

// Agents lists the declared agents, sorted by name.
func (a *App) Agents() []AgentInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []AgentInfo
	for _, ag := range a.agents {
		out = append(out, AgentInfo{Name: ag.name, Source: ag.sourceName, Concurrency: ag.concurrency})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TableInfo describes a declared table.
type TableInfo struct {
	Name      string
	Changelog string
	Source    string // the topic it is co-partitioned with
}

// Tables lists the declared tables, sorted by name.
func (a *App) Tables() []TableInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []TableInfo
	for _, t := range a.tables {
		out = append(out, TableInfo{Name: t.name, Changelog: t.changelog, Source: t.source.name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// register adds to the topology under the app's lock. A declaration that
// fails (or comes after Run started) is remembered and returned by Run: as
// with a builder, declarations chain without an error at each step.
func (a *App) register(f func() error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	err := ErrStarted
	if !a.started {
		err = f()
	}
	if err != nil {
		a.cfg.logger.Error("streams: invalid declaration", "app", a.id, "err", err)
		if a.declErr == nil {
			a.declErr = err
		}
	}
}

// Close releases the producer used for sends outside Run and the readers
// of reply topics (Ask). Run releases
// everything else itself.
func (a *App) Close() {
	a.mu.Lock()
	p := a.producer
	a.producer = nil
	a.mu.Unlock()
	if p != nil {
		p.Close()
	}
	a.replyMu.Lock()
	hubs := a.hubs
	a.hubs = nil
	a.replyMu.Unlock()
	for _, h := range hubs {
		h.close()
	}
}

// Run runs this process as one worker of the app until ctx is done or an
// agent fails. On return it has finished or aborted its last batch,
// committed what was processed, closed its tables' stores and left the
// group. It returns nil when ctx was cancelled, else the first error.
func (a *App) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.started {
		a.mu.Unlock()
		return ErrStarted
	}
	a.started = true
	declErr := a.declErr
	a.mu.Unlock()
	if declErr != nil {
		return declErr
	}

	w, err := newWorker(ctx, a)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil // cancelled while starting
		}
		return err
	}
	a.mu.Lock()
	a.w = w
	a.mu.Unlock()
	err = w.run(ctx)
	a.mu.Lock()
	a.w = nil
	a.mu.Unlock()
	return err
}

// outsideProducer returns the app's plain producer for sends that are not
// part of a batch (from outside agents, or from channel-fed agents).
func (a *App) outsideProducer() (*kgo.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.producer != nil {
		return a.producer, nil
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.brokers...)}, a.cfg.kopts...)
	opts = append(opts, kgo.RecordPartitioner(a.partitioner()))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("streams: producer: %w", err)
	}
	a.producer = cl
	return cl, nil
}

// partitioner sends records of tables' changelogs to the partition they
// name and every other record by Kafka's default (murmur2 of the key).
func (a *App) partitioner() kgo.Partitioner {
	manual := map[string]bool{}
	for _, t := range a.tables {
		if !t.fromTopic { // a TableOf's changelog is its own topic, keyed as usual
			manual[t.changelog] = true
		}
	}
	return &appPartitioner{manual: manual, manualP: kgo.ManualPartitioner(), def: kgo.StickyKeyPartitioner(nil)}
}

type appPartitioner struct {
	manual  map[string]bool
	manualP kgo.Partitioner
	def     kgo.Partitioner
}

func (p *appPartitioner) ForTopic(t string) kgo.TopicPartitioner {
	if p.manual[t] {
		return p.manualP.ForTopic(t)
	}
	return p.def.ForTopic(t)
}

// validName accepts Kafka's legal topic characters, so names can prefix
// internal topics.
func validName(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > 200 {
		return fmt.Errorf("name %q longer than 200 characters", s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("name %q: only ASCII letters, digits, '.', '_' and '-' are allowed", s)
		}
	}
	return nil
}
