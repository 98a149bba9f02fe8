package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sluice-io/sluice/internal/auth"
)

// Sentinel errors.
var (
	// ErrBadRecord marks a _schemas record that does not parse.
	ErrBadRecord = errors.New("malformed _schemas record")
	// ErrStore marks a failed append to the _schemas topic.
	ErrStore = errors.New("schema store append failed")
	// ErrStoreTimeout marks a write whose append to the _schemas topic did
	// not complete within Config.StoreTimeout (answered 50002).
	ErrStoreTimeout = errors.New("schema store append timed out")
)

// Store persists records: Append returns once every record is in the log
// (in order), or an error, in which case none of them may be applied.
type Store interface {
	Append(recs []Record) error
}

// Preparer is implemented by a Store with set-up work to do before its
// first append (the broker creates the _schemas topic, fsyncing its
// metadata). write calls Prepare before its StoreTimeout starts, so a slow
// one-time set-up is not answered 50002: kafkastore.timeout.ms bounds the
// append, as Confluent's bounds the produce to an existing topic.
type Preparer interface {
	Prepare() error
}

// Config configures a Registry.
type Config struct {
	// Store is where writes go (the broker's _schemas topic).
	Store Store
	// Logger receives the registry's logs. Default slog.Default().
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Authenticate finds the caller of a request (HTTP basic auth, a TLS
	// client certificate); nil: everyone is User:ANONYMOUS. An error
	// answers 401.
	Authenticate func(*http.Request) (auth.Principal, error)
	// Authorizer is asked before every operation (see acl.go). Default
	// auth.AllowAll.
	Authorizer auth.Authorizer
	// StoreTimeout bounds how long a write waits for its append to the
	// Store (Confluent's kafkastore.timeout.ms): past it, the write is
	// answered 50002 (see write). Default DefaultStoreTimeout.
	StoreTimeout time.Duration
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 8 << 20

// DefaultStoreTimeout is Confluent's kafkastore.timeout.ms default.
const DefaultStoreTimeout = 500 * time.Millisecond

// Registry is the schema registry: the state the _schemas records build,
// the write path that appends a record before applying it, and the HTTP API.
type Registry struct {
	cfg Config
	log *slog.Logger

	wmu sync.Mutex // serialises writes: decide, append, apply
	// pending, guarded by wmu, is closed once a write that timed out has
	// finished its append and applied it (or failed); later writes wait
	// for it before deciding, so they never decide on a state that lacks
	// a record already on its way into the log.
	pending chan struct{}
	bg      sync.WaitGroup // appends that outlived their request; Close waits
	// newTimer makes the StoreTimeout timer (tests inject their own).
	newTimer func(time.Duration) (<-chan time.Time, func() bool)
	mu       sync.RWMutex // guards st
	st       *state

	pmu    sync.Mutex
	parsed map[int]parsedSchema // by id; ids are never reused
}

// New returns a registry with empty state; Replay the _schemas topic into
// it before serving.
func New(cfg Config) *Registry {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Authorizer == nil {
		cfg.Authorizer = auth.AllowAll{}
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	return &Registry{cfg: cfg, log: cfg.Logger, st: newState(), parsed: map[int]parsedSchema{}, newTimer: realTimer}
}

func realTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Close waits for the appends of timed-out writes to finish (the Store
// bounds them); call it after the HTTP server stopped and before the Store
// closes.
func (r *Registry) Close() { r.bg.Wait() }

// errTimeout is the answer to a write that did not complete in time:
// Confluent's 50002 (RestOperationTimeoutException).
func errTimeout() error {
	return fmt.Errorf("%w: %w", ErrStoreTimeout, newErr(codeOperationTimeout, "Operation timed out: the _schemas append did not complete within kafkastore.timeout.ms; retry"))
}

// lockWrites takes the write lock and waits, up to StoreTimeout, for a
// timed-out write's append to land; if it has not, it answers 50002.
func (r *Registry) lockWrites() error {
	r.wmu.Lock()
	if r.pending == nil {
		return nil
	}
	select {
	case <-r.pending:
	default:
		c, stop := r.newTimer(r.cfg.StoreTimeout)
		select {
		case <-r.pending:
			stop()
		case <-c:
			r.wmu.Unlock()
			r.log.Warn("schema registry write refused: an earlier append is still in progress", "timeout", r.cfg.StoreTimeout)
			return errTimeout()
		}
	}
	r.pending = nil
	return nil
}

// Replay applies one record of the _schemas topic (value nil: tombstone).
// A malformed record is logged and skipped, as Confluent's reader does, and
// returned so the caller can count it.
func (r *Registry) Replay(key, value []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.st.apply(key, value); err != nil {
		r.log.Warn("skipping _schemas record", "err", err)
		return err
	}
	return nil
}

// write appends recs and applies them; the caller holds wmu (lockWrites).
//
// An append that takes longer than StoreTimeout is answered 50002, as
// Confluent's KafkaStore answers a produce or read-back that exceeds
// kafkastore.timeout.ms. Its outcome is then unknown to the client, but
// never half-applied here: the append goes on in the background and is
// applied if and only if it lands in the log, and the next write waits for
// that (lockWrites) before it decides anything. A client that retries a
// registration after 50002 gets the same id either way.
func (r *Registry) write(recs ...Record) error {
	if p, ok := r.cfg.Store.(Preparer); ok {
		if err := p.Prepare(); err != nil {
			return r.apply(recs, err)
		}
	}
	done := make(chan error, 1)
	r.bg.Go(func() { done <- r.cfg.Store.Append(recs) })
	c, stop := r.newTimer(r.cfg.StoreTimeout)
	select {
	case err := <-done:
		stop()
		return r.apply(recs, err)
	case <-c:
	}
	landed := make(chan struct{})
	r.pending = landed
	r.bg.Go(func() {
		defer close(landed)
		_ = r.apply(recs, <-done)
	})
	r.log.Warn("schema registry write timed out; it completes in the background", "timeout", r.cfg.StoreTimeout, "records", len(recs))
	return errTimeout()
}

// apply applies recs once their append succeeded.
func (r *Registry) apply(recs []Record, appendErr error) error {
	if appendErr != nil {
		r.log.Error("schema registry write failed", "err", appendErr)
		return fmt.Errorf("%w: %w", ErrStore, appendErr)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if err := r.st.apply(rec.Key, rec.Value); err != nil {
			// Our own records always parse; a failure is a bug, logged.
			r.log.Error("applying own _schemas record", "err", err)
		}
	}
	return nil
}

// resolve turns references into deps, checking each exists; depth and
// cycles are bounded, and each subject version is resolved once (a
// diamond-shaped graph would otherwise cost 2^depth). Called with mu held.
func (r *Registry) resolve(refs []Reference, depth int, path map[string]bool) ([]dep, error) {
	return r.resolveMemo(refs, depth, path, map[string][]dep{})
}

func (r *Registry) resolveMemo(refs []Reference, depth int, path map[string]bool, memo map[string][]dep) ([]dep, error) {
	if depth > 32 {
		return nil, newErr(codeInvalidSchema, "Invalid schema: references nested too deeply")
	}
	out := make([]dep, 0, len(refs))
	for _, ref := range refs {
		if ref.Name == "" || ref.Subject == "" {
			return nil, newErr(codeInvalidSchema, "Invalid schema: a reference needs a name and a subject")
		}
		ss := r.st.subjects[ref.Subject]
		var e *entry
		if ss != nil {
			if ref.Version == -1 {
				if l := ss.list(false); len(l) > 0 {
					e = l[len(l)-1]
				}
			} else {
				e = ss.versions[ref.Version]
			}
		}
		if e == nil {
			return nil, newErr(codeInvalidSchema, fmt.Sprintf("Invalid schema: reference %q: subject %q version %d not found", ref.Name, ref.Subject, ref.Version))
		}
		k := fmt.Sprintf("%s\x00%d", e.subject, e.version)
		if path[k] {
			return nil, newErr(codeInvalidSchema, fmt.Sprintf("Invalid schema: cyclic reference to subject %q version %d", e.subject, e.version))
		}
		sc := r.st.ids[e.id]
		sub, done := memo[k]
		if !done {
			path[k] = true
			var err error
			sub, err = r.resolveMemo(e.refs, depth+1, path, memo)
			delete(path, k)
			if err != nil {
				return nil, err
			}
			memo[k] = sub
		}
		out = append(out, dep{name: ref.Name, subject: e.subject, version: e.version, text: sc.text, deps: sub})
	}
	return out, nil
}

// parsedByID parses (and caches) the schema with id. Called with mu held.
func (r *Registry) parsedByID(id int) (parsedSchema, error) {
	r.pmu.Lock()
	p := r.parsed[id]
	r.pmu.Unlock()
	if p != nil {
		return p, nil
	}
	sc := r.st.ids[id]
	if sc == nil {
		return nil, newErr(codeSchemaNotFound, "Schema not found")
	}
	deps, err := r.resolve(sc.refs, 0, map[string]bool{})
	if err != nil {
		return nil, err
	}
	p, err = parseSchema(sc.typ, sc.text, deps)
	if err != nil {
		return nil, fmt.Errorf("stored schema %d does not parse: %w", id, err)
	}
	r.pmu.Lock()
	r.parsed[id] = p
	r.pmu.Unlock()
	return p, nil
}

// SchemaRequest is the body of a registration, lookup or compatibility check.
type SchemaRequest struct {
	Schema     string          `json:"schema"`
	SchemaType string          `json:"schemaType,omitempty"`
	References []Reference     `json:"references,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	RuleSet    json.RawMessage `json:"ruleSet,omitempty"`
	ID         int             `json:"id,omitempty"`
	Version    int             `json:"version,omitempty"`
}

// prepare validates and parses req. Called with mu held.
func (r *Registry) prepare(req *SchemaRequest, normalize bool) (parsedSchema, string, error) {
	if req.SchemaType == "" {
		req.SchemaType = TypeAvro
	}
	switch req.SchemaType {
	case TypeAvro, TypeProtobuf, TypeJSON:
	default:
		return nil, "", newErr(codeInvalidSchema, fmt.Sprintf("Invalid schema type %q", req.SchemaType))
	}
	if req.Schema == "" {
		return nil, "", newErr(codeInvalidSchema, "Empty schema")
	}
	deps, err := r.resolve(req.References, 0, map[string]bool{})
	if err != nil {
		return nil, "", err
	}
	p, err := parseSchema(req.SchemaType, req.Schema, deps)
	if err != nil {
		return nil, "", newErr(codeInvalidSchema, fmt.Sprintf("Invalid schema %s: %v", req.SchemaType, err))
	}
	return p, p.canonical(normalize), nil
}

func sameRefs(a, b []Reference) bool {
	return slices.Equal(a, b) || (len(a) == 0 && len(b) == 0)
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 || bytes.Equal(a, []byte("null")) || bytes.Equal(b, []byte("null")) {
		return (len(a) == 0 || bytes.Equal(a, []byte("null"))) == (len(b) == 0 || bytes.Equal(b, []byte("null")))
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// matches reports whether entry e holds the schema text/type/refs.
func (r *Registry) matches(e *entry, typ, text string, req *SchemaRequest) bool {
	sc := r.st.ids[e.id]
	return sc != nil && sc.typ == typ && sc.ident == identity(typ, text) && sameRefs(e.refs, req.References) &&
		sameJSON(e.meta, req.Metadata) && sameJSON(e.rules, req.RuleSet)
}

// previousParsed parses the subject's live versions, oldest first.
func (r *Registry) previousParsed(ss *subjectState) ([]parsedSchema, error) {
	var out []parsedSchema
	for _, e := range ss.list(false) {
		p, err := r.parsedByID(e.id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func writable(mode string) error {
	if mode == ModeReadOnly || mode == ModeReadOnlyOverride {
		return newErr(codeOperationNotPermitted, "Subject is in read-only mode")
	}
	return nil
}

// Register registers req under subject and returns its id: the existing
// id when the subject already has the schema.
func (r *Registry) Register(subject string, req SchemaRequest, normalize bool) (int, error) {
	if err := validSubject(subject); err != nil {
		return 0, err
	}
	if err := r.lockWrites(); err != nil {
		return 0, err
	}
	defer r.wmu.Unlock()
	rec, id, err := r.planRegister(subject, &req, normalize)
	if err != nil || rec == nil {
		return id, err
	}
	if err := r.write(*rec); err != nil {
		return 0, err
	}
	return id, nil
}

func (r *Registry) planRegister(subject string, req *SchemaRequest, normalize bool) (*Record, int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	// Clients send -1 for "none" (Confluent's RegisterSchemaRequest too).
	req.ID, req.Version = max(req.ID, 0), max(req.Version, 0)
	mode := r.st.modeOf(subject)
	if err := writable(mode); err != nil {
		return nil, 0, err
	}
	if req.ID != 0 && mode != ModeImport {
		return nil, 0, newErr(codeOperationNotPermitted, fmt.Sprintf("Subject %s is not in import mode", subject))
	}
	p, text, err := r.prepare(req, normalize)
	if err != nil {
		return nil, 0, err
	}
	ss := r.st.subjects[subject]
	for _, e := range ss.list(false) {
		if r.matches(e, req.SchemaType, text, req) && (req.ID == 0 || req.ID == e.id) {
			return nil, e.id, nil
		}
	}
	if mode != ModeImport && ss != nil {
		prev, err := r.previousParsed(ss)
		if err != nil {
			return nil, 0, err
		}
		if msgs := checkLevel(r.st.compatibility(subject), p, prev); len(msgs) > 0 {
			return nil, 0, &apiError{status: 409, Code: codeIncompatible,
				Message: fmt.Sprintf("Schema being registered is incompatible with an earlier schema for subject %q, details: %v", subject, msgs)}
		}
	}
	id := req.ID
	if id != 0 {
		if sc := r.st.ids[id]; sc != nil {
			if sc.typ != req.SchemaType || sc.ident != identity(req.SchemaType, text) || !sameRefs(sc.refs, req.References) {
				return nil, 0, newErr(codeIDConflict, fmt.Sprintf("Overwrite new schema with id %d is not permitted", id))
			}
			text = sc.text // one spelling per id
		}
	} else {
		id = r.st.byContent[contentKey(req.SchemaType, identity(req.SchemaType, text), req.References)]
		if sc := r.st.ids[id]; sc != nil {
			text = sc.text // one spelling per id
		}
		if id == 0 {
			id = r.st.maxID + 1
		}
	}
	version := ss.maxVersion() + 1
	if req.Version != 0 {
		if mode != ModeImport && req.Version != version {
			return nil, 0, newErr(codeInvalidVersion, fmt.Sprintf("Version %d is not the next version %d of subject %s", req.Version, version, subject))
		}
		if ss != nil && ss.versions[req.Version] != nil {
			return nil, 0, newErr(codeInvalidVersion, fmt.Sprintf("Version %d of subject %s already exists", req.Version, subject))
		}
		version = req.Version
	}
	typ := req.SchemaType
	if typ == TypeAvro {
		typ = ""
	}
	refs := req.References
	if refs == nil {
		refs = []Reference{}
	}
	v := schemaValue{Subject: subject, Version: version, ID: id, SchemaType: typ, References: refs,
		Metadata: req.Metadata, RuleSet: req.RuleSet, Schema: text}
	return &Record{Key: schemaKey(subject, version), Value: mustJSON(v)}, id, nil
}
