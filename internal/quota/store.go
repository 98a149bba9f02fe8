// Package quota holds client quotas (Kafka's DescribeClientQuotas and
// AlterClientQuotas entities and values), resolves the quota that applies to
// a (user, client id) pair with Kafka's precedence, and measures rates over
// a sliding window to compute throttle times as Kafka's ClientQuotaManager
// does (manager.go).
package quota

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/envelope"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Quota keys Kafka accepts for user and client-id entities.
const (
	ProducerByteRate       = "producer_byte_rate"
	ConsumerByteRate       = "consumer_byte_rate"
	RequestPercentage      = "request_percentage"
	ControllerMutationRate = "controller_mutation_rate" // stored and described, not enforced
)

// Entity types on the wire.
const (
	TypeUser     = "user"
	TypeClientID = "client-id"
)

// Kind says whether an entity has a component and whether it is the default.
type Kind uint8

// Kinds of an entity component.
const (
	Absent  Kind = iota // the entity has no such component
	Default             // <default>: a null name on the wire
	Named
)

// Component is the user or client-id part of an entity.
type Component struct {
	Kind Kind
	Name string // when Named; may be empty (the empty client id is a name)
}

// Entity is a quota entity: a user, a client id, or both, each named or
// the default. The zero Entity (both absent) is invalid.
type Entity struct {
	User, ClientID Component
}

func named(n string) Component { return Component{Kind: Named, Name: n} }

var dflt = Component{Kind: Default}

func (c Component) String() string {
	switch c.Kind {
	case Default:
		return "<default>"
	case Named:
		return c.Name
	}
	return ""
}

// String is Kafka's ZooKeeper-era path of the entity (users/alice/clients/app).
func (e Entity) String() string {
	s := ""
	if e.User.Kind != Absent {
		s = "users/" + e.User.String()
	}
	if e.ClientID.Kind != Absent {
		if s != "" {
			s += "/"
		}
		s += "clients/" + e.ClientID.String()
	}
	return s
}

// ValidKey reports whether key is a quota key of user and client-id
// entities.
func ValidKey(key string) bool {
	switch key {
	case ProducerByteRate, ConsumerByteRate, RequestPercentage, ControllerMutationRate:
		return true
	}
	return false
}

// ValidateValue checks a value as Kafka's ClientQuotaControlManager does:
// byte and mutation rates are whole numbers (longs) greater than zero,
// request_percentage a positive double.
func ValidateValue(key string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("Invalid value %v for %s", v, key)
	}
	switch key {
	case ProducerByteRate, ConsumerByteRate:
		if v != math.Trunc(v) || v > math.MaxInt64 {
			return fmt.Errorf("Configuration %s must be a Long value", key)
		}
		if v <= 0 {
			return fmt.Errorf("Quota %s must be greater than 0", key)
		}
	case RequestPercentage, ControllerMutationRate:
		if v <= 0 {
			return fmt.Errorf("Quota %s must be greater than 0", key)
		}
	default:
		return fmt.Errorf("Invalid configuration key %s", key)
	}
	return nil
}

// Op sets (or, with Remove, removes) one key of an entity.
type Op struct {
	Key    string
	Value  float64
	Remove bool
}

// Store is the set of client quotas, persisted in quotas.json.
type Store struct {
	fs   vfs.FS
	path string

	// alterMu serializes Alter; mu guards quotas (and rev), held only
	// briefly when the store is shared.
	alterMu sync.Mutex
	mu      sync.RWMutex
	quotas  map[Entity]map[string]float64
	gen     atomic.Uint64 // bumped on every change; caches compare it
	active  atomic.Bool   // an enforced key is set somewhere

	// shared, when set, replaces the file (cluster mode: an etcd key,
	// shared.go); rev is the revision of quotas.
	shared envelope.Shared
	rev    int64
}

// Open loads <dir>/quotas.json (a missing file is no quotas); a corrupt
// file is an error that stops start-up.
func Open(fsys vfs.FS, dir string) (*Store, error) {
	s := &Store{fs: fsys, path: filepath.Join(dir, fileName), quotas: map[Entity]map[string]float64{}}
	h, err := fsys.OpenFile(s.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", s.path, err)
	}
	defer h.Close()
	data, err := io.ReadAll(h)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	if s.quotas, err = decode(data); err != nil {
		return nil, fmt.Errorf("%w: %s: %v (refusing to start: restore the file from a backup, or move it away to start with no quotas)", ErrCorrupt, s.path, err)
	}
	s.refresh()
	return s, nil
}

// Active reports, with one atomic load, whether any enforced quota is set.
func (s *Store) Active() bool { return s != nil && s.active.Load() }

// Gen is a number that changes whenever the quotas do.
func (s *Store) Gen() uint64 { return s.gen.Load() }

func (s *Store) refresh() {
	on := false
	for _, vals := range s.quotas {
		for k := range vals {
			on = on || k != ControllerMutationRate
		}
	}
	s.active.Store(on)
	s.gen.Add(1)
}

// Entry is an entity with its values.
type Entry struct {
	Entity Entity
	Values map[string]float64
}

// Entries returns every entity with at least one value, sorted by entity
// path.
func (s *Store) Entries() []Entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Entry, 0, len(s.quotas))
	for e, vals := range s.quotas {
		cp := make(map[string]float64, len(vals))
		for k, v := range vals {
			cp[k] = v
		}
		out = append(out, Entry{e, cp})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Entity.String() < out[j].Entity.String() })
	return out
}

// Alter applies ops to several entities at once and persists the result
// before it is visible. Ops must have been validated.
func (s *Store) Alter(changes map[Entity][]Op) error {
	s.alterMu.Lock()
	defer s.alterMu.Unlock()
	if s.shared != nil {
		return s.alterShared(changes) // shared.go
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := applyOps(s.quotas, changes)
	data, err := encode(next)
	if err != nil {
		return err
	}
	if err := vfs.WriteFileAtomic(s.fs, s.path, data, 0o644); err != nil {
		return fmt.Errorf("writing quotas %s: %w", s.path, err)
	}
	s.quotas = next
	s.refresh()
	return nil
}

// applyOps is quotas (not modified) with changes applied.
func applyOps(quotas map[Entity]map[string]float64, changes map[Entity][]Op) map[Entity]map[string]float64 {
	next := make(map[Entity]map[string]float64, len(quotas))
	for e, vals := range quotas {
		next[e] = vals
	}
	for e, ops := range changes {
		vals := map[string]float64{}
		for k, v := range next[e] {
			vals[k] = v
		}
		for _, op := range ops {
			if op.Remove {
				delete(vals, op.Key)
			} else {
				vals[op.Key] = op.Value
			}
		}
		if len(vals) == 0 {
			delete(next, e)
		} else {
			next[e] = vals
		}
	}
	return next
}

// Limit is the quota of one key that applies to a user and client id, and
// the names the rate is measured under (Kafka's metric tags): clients that
// share a quota entity share its rate.
type Limit struct {
	Value        float64
	User, Client string // "" where the entity has no such component
	OK           bool
}

// Lookup returns the quota of key for a connection of user (the principal
// name) with clientID, with Kafka's precedence, most specific first:
//
//	/users/<user>/clients/<client-id>
//	/users/<user>/clients/<default>
//	/users/<user>
//	/users/<default>/clients/<client-id>
//	/users/<default>/clients/<default>
//	/users/<default>
//	/clients/<client-id>
//	/clients/<default>
//
// Each key is resolved on its own, as Kafka's quota managers each resolve
// their own quota type.
func (s *Store) Lookup(key, user, clientID string) Limit {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range precedence(user, clientID) {
		if v, ok := s.quotas[c.e][key]; ok {
			return Limit{Value: v, User: c.user, Client: c.client, OK: true}
		}
	}
	return Limit{}
}

type candidate struct {
	e            Entity
	user, client string
}

func precedence(user, clientID string) [8]candidate {
	u, c, none := named(user), named(clientID), Component{}
	return [8]candidate{
		{Entity{u, c}, user, clientID},
		{Entity{u, dflt}, user, clientID},
		{Entity{u, none}, user, ""},
		{Entity{dflt, c}, user, clientID},
		{Entity{dflt, dflt}, user, clientID},
		{Entity{dflt, none}, user, ""},
		{Entity{none, c}, "", clientID},
		{Entity{none, dflt}, "", clientID},
	}
}

// On-disk format of <data dir>/quotas.json (version 1), written atomically
// (vfs.WriteFileAtomic: temp file, fsync, rename, directory fsync) by every
// AlterClientQuotas that is not validate_only, before the change is
// acknowledged or enforced:
//
//	{"version":1,"crc32c":<uint32>,"payload":<payload>}\n
//
// crc32c is the CRC-32C of the payload's exact bytes, as in meta.json and
// acls.json. The payload lists entities sorted by path; a component is
// absent (omitted), the default ("default": true) or a name:
//
//	{"quotas": [
//	  {"user": {"name": "alice"}, "client_id": {"default": true},
//	   "values": {"producer_byte_rate": 1048576}}
//	]}
//
// A missing file is no quotas. An unknown version, a checksum mismatch,
// unknown fields, trailing data, an entity with neither component, a
// duplicate entity, an unknown key or an invalid value make the file
// corrupt: start-up stops with the file named and nothing is reset.
const (
	fileName    = "quotas.json"
	fileVersion = 1
)

// ErrCorrupt marks a quota file that cannot be trusted.
var ErrCorrupt = errors.New("corrupt quota file")

type payload struct {
	Quotas []record `json:"quotas"`
}

type compRecord struct {
	Name    *string `json:"name,omitempty"`
	Default bool    `json:"default,omitempty"`
}

type record struct {
	User     *compRecord        `json:"user,omitempty"`
	ClientID *compRecord        `json:"client_id,omitempty"`
	Values   map[string]float64 `json:"values"`
}

func toRecord(c Component) *compRecord {
	switch c.Kind {
	case Default:
		return &compRecord{Default: true}
	case Named:
		n := c.Name
		return &compRecord{Name: &n}
	}
	return nil
}

func fromRecord(r *compRecord) (Component, error) {
	switch {
	case r == nil:
		return Component{}, nil
	case r.Default && r.Name == nil:
		return dflt, nil
	case !r.Default && r.Name != nil:
		return named(*r.Name), nil
	}
	return Component{}, errors.New("component must have exactly one of name and default")
}

func encode(q map[Entity]map[string]float64) ([]byte, error) {
	p := payload{Quotas: []record{}}
	for e, vals := range q {
		p.Quotas = append(p.Quotas, record{User: toRecord(e.User), ClientID: toRecord(e.ClientID), Values: vals})
	}
	sort.Slice(p.Quotas, func(i, j int) bool {
		return entityOf(p.Quotas[i]).String() < entityOf(p.Quotas[j]).String()
	})
	return envelope.Encode(fileVersion, p)
}

func entityOf(r record) Entity {
	u, _ := fromRecord(r.User)
	c, _ := fromRecord(r.ClientID)
	return Entity{u, c}
}

func decode(data []byte) (map[Entity]map[string]float64, error) {
	var p payload
	if err := envelope.Decode(data, fileVersion, &p); err != nil {
		return nil, err
	}
	out := map[Entity]map[string]float64{}
	for i, r := range p.Quotas {
		u, err := fromRecord(r.User)
		if err != nil {
			return nil, fmt.Errorf("quota %d user: %v", i, err)
		}
		c, err := fromRecord(r.ClientID)
		if err != nil {
			return nil, fmt.Errorf("quota %d client_id: %v", i, err)
		}
		e := Entity{u, c}
		if u.Kind == Absent && c.Kind == Absent {
			return nil, fmt.Errorf("quota %d: entity has neither user nor client_id", i)
		}
		if _, dup := out[e]; dup {
			return nil, fmt.Errorf("quota %d %s: duplicate entity", i, e)
		}
		if len(r.Values) == 0 {
			return nil, fmt.Errorf("quota %d %s: no values", i, e)
		}
		for k, v := range r.Values {
			if err := ValidateValue(k, v); err != nil {
				return nil, fmt.Errorf("quota %d %s: %v", i, e, err)
			}
		}
		out[e] = r.Values
	}
	return out, nil
}
