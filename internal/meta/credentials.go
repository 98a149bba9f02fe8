package meta

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"

	"github.com/sluice-io/sluice/internal/envelope"
	"github.com/sluice-io/sluice/internal/vfs"
)

// On-disk format of <dir>/credentials.json (credFormatVersion 1), the SCRAM
// credentials of SASL users. It is a file of its own, separate from
// meta.json, so that it can be kept at mode 0600 and backed up or wiped on
// its own. Same envelope and atomic write as meta.json:
//
//	{"version":1,"crc32c":<uint32>,"payload":<payload>}\n
//
// with crc32c the CRC-32C of the payload's exact bytes and the payload
//
//	{"users": {                           // sorted by user name
//	  "alice": {                          // one entry per mechanism
//	    "SCRAM-SHA-256": {"salt": "<base64>", "stored_key": "<base64>",
//	                      "server_key": "<base64>", "iterations": 4096}}}}
//
// As in Kafka, only the salt, the iteration count, StoredKey = H(ClientKey)
// and ServerKey (RFC 5802) are kept: never a password, nor the salted
// password (which would let its reader authenticate). A missing file is an
// empty store; a file that fails its checksum or does not parse stops
// start-up with the file named.
const (
	credFileName      = "credentials.json"
	credFormatVersion = 1
)

// ScramCredential is one user's stored credential for one SCRAM mechanism.
type ScramCredential struct {
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
	Iterations int32  `json:"iterations"`
}

// CredentialChange is one change of AlterCredentials: an upsert of Cred
// for User and Mechanism, or a deletion when Delete is set.
type CredentialChange struct {
	User      string
	Mechanism string
	Delete    bool
	Cred      ScramCredential
}

// ErrNoCredential is returned when a deletion names a credential that does
// not exist.
var ErrNoCredential = errors.New("no such credential")

// Credentials is the persistent SCRAM credential store. It is safe for
// concurrent use; every change is written atomically and durably before
// it becomes visible.
type Credentials struct {
	fs     vfs.FS
	dir    string
	logger *slog.Logger

	// alterMu serializes Alter; mu guards users (and rev), held only
	// briefly when the store is shared.
	alterMu sync.Mutex
	mu      sync.RWMutex
	users   map[string]map[string]ScramCredential // user → mechanism → credential

	// shared, when set, replaces the file (cluster mode: an etcd key,
	// credshared.go); rev is the revision of users.
	shared envelope.Shared
	rev    int64
}

type credPayload struct {
	Users map[string]map[string]ScramCredential `json:"users"`
}

// OpenCredentials loads <dir>/credentials.json (empty when absent). All file
// access goes through fsys (nil means vfs.Default).
func OpenCredentials(fsys vfs.FS, dir string, logger *slog.Logger) (*Credentials, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if fsys == nil {
		fsys = vfs.Default
	}
	c := &Credentials{fs: fsys, dir: dir, logger: logger, users: map[string]map[string]ScramCredential{}}
	if err := mkdirAll(fsys, dir); err != nil {
		return nil, fmt.Errorf("creating metadata directory: %w", err)
	}
	removed, err := removeTempFiles(fsys, dir, credFileName)
	for _, p := range removed {
		logger.Warn("removed temporary credentials file left by an interrupted write", "path", p)
	}
	if err != nil {
		return nil, fmt.Errorf("removing temporary credentials files: %w", err)
	}
	path := filepath.Join(dir, credFileName)
	data, found, err := readFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("reading credentials: %w", err)
	}
	if !found {
		return c, nil
	}
	users, err := decodeCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (refusing to start: restore the file from a backup, or move it away to start without SCRAM users)",
			ErrCorruptMetadata, path, err)
	}
	c.users = users
	return c, nil
}

func decodeCredentials(data []byte) (map[string]map[string]ScramCredential, error) {
	var p credPayload
	if err := envelope.Decode(data, credFormatVersion, &p); err != nil {
		return nil, err
	}
	users := map[string]map[string]ScramCredential{}
	for u, mechs := range p.Users {
		if u == "" {
			return nil, errors.New("empty user name")
		}
		for m, cr := range mechs {
			if len(cr.Salt) == 0 || len(cr.StoredKey) == 0 || len(cr.ServerKey) == 0 || cr.Iterations < 1 {
				return nil, fmt.Errorf("user %q mechanism %s: incomplete credential", u, m)
			}
		}
		if len(mechs) > 0 {
			users[u] = mechs
		}
	}
	return users, nil
}

func encodeCredentials(users map[string]map[string]ScramCredential) ([]byte, error) {
	return envelope.Encode(credFormatVersion, credPayload{Users: users}) // maps marshal sorted
}

// Get returns a user's credential for a mechanism.
func (c *Credentials) Get(user, mechanism string) (ScramCredential, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cr, ok := c.users[user][mechanism]
	return cr, ok
}

// Users returns every user with its mechanisms and iteration counts.
func (c *Credentials) Users() map[string]map[string]int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]map[string]int32, len(c.users))
	for u, mechs := range c.users {
		out[u] = map[string]int32{}
		for m, cr := range mechs {
			out[u][m] = cr.Iterations
		}
	}
	return out
}

// UserNames returns the users with at least one credential, sorted.
func (c *Credentials) UserNames() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Sorted(maps.Keys(c.users))
}

// Alter applies changes in order and persists the result in one atomic
// write. errs[i] is the outcome of changes[i] (ErrNoCredential for the
// deletion of a missing credential); changes that fail are skipped, the
// others are applied. The returned error is a write failure, after which
// nothing is changed.
func (c *Credentials) Alter(changes []CredentialChange) (errs []error, err error) {
	groups := make([][]CredentialChange, len(changes))
	for i := range changes {
		groups[i] = changes[i : i+1]
	}
	return c.AlterGroups(groups)
}

// AlterGroups is Alter with the changes in groups, each applied entirely
// or not at all: errs[i] is ErrNoCredential when group i deletes a
// credential that does not exist, and then none of its changes apply
// (AlterUserScramCredentials: a user's alterations go together). A group
// must not change one credential twice.
func (c *Credentials) AlterGroups(groups [][]CredentialChange) (errs []error, err error) {
	c.alterMu.Lock()
	defer c.alterMu.Unlock()
	if c.shared != nil {
		return c.alterShared(groups) // credshared.go
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next, errs, changed := applyCredentialChanges(c.users, groups)
	if !changed {
		return errs, nil
	}
	data, err := encodeCredentials(next)
	if err != nil {
		return nil, fmt.Errorf("encoding credentials: %w", err)
	}
	if err := writeFileAtomic(c.fs, c.dir, credFileName, data); err != nil {
		return nil, fmt.Errorf("writing credentials %s: %w", filepath.Join(c.dir, credFileName), err)
	}
	c.users = next
	return errs, nil
}

// applyCredentialChanges is users (not modified) with the groups of
// changes applied, each group's outcome, and whether anything changed.
func applyCredentialChanges(users map[string]map[string]ScramCredential, groups [][]CredentialChange) (map[string]map[string]ScramCredential, []error, bool) {
	next := make(map[string]map[string]ScramCredential, len(users))
	for u, mechs := range users {
		next[u] = maps.Clone(mechs)
	}
	errs := make([]error, len(groups))
	changed := false
	for i, g := range groups {
		for _, ch := range g {
			if _, ok := next[ch.User][ch.Mechanism]; ch.Delete && !ok {
				errs[i] = ErrNoCredential
			}
		}
		if errs[i] != nil {
			continue
		}
		for _, ch := range g {
			applyCredentialChange(next, ch)
			changed = true
		}
	}
	return next, errs, changed
}

// applyCredentialChange applies one change whose deletion, if any, names
// an existing credential.
func applyCredentialChange(next map[string]map[string]ScramCredential, ch CredentialChange) {
	if ch.Delete {
		delete(next[ch.User], ch.Mechanism)
		if len(next[ch.User]) == 0 {
			delete(next, ch.User)
		}
		return
	}
	if next[ch.User] == nil {
		next[ch.User] = map[string]ScramCredential{}
	}
	next[ch.User][ch.Mechanism] = ch.Cred
}
