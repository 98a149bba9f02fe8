package meta

import (
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sluice-io/sluice/internal/vfs"
)

// Topic is a topic's durable metadata.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions int32
	Configs    map[string]string // topic config overrides (DYNAMIC_TOPIC_CONFIG)
	Internal   bool
}

// clone deep-copies t; Configs is never nil in the copy.
func (t Topic) clone() Topic {
	c := maps.Clone(t.Configs)
	if c == nil {
		c = map[string]string{}
	}
	t.Configs = c
	return t
}

// Store persists the cluster ID, topics and cluster-wide dynamic broker
// configs in one file (see format.go). Every mutation rewrites the whole file
// atomically and durably before it returns, and only then becomes visible to
// readers; a failed mutation changes nothing in memory. A Store is safe for
// concurrent use; one directory must be opened by one Store at a time.
type Store struct {
	fs     vfs.FS
	dir    string
	path   string
	logger *slog.Logger

	mu sync.RWMutex
	st *state
}

// OpenStore loads <dir>/meta.json, creating dir and a fresh metadata file
// with a new cluster ID when the file does not exist. A file that exists but
// cannot be trusted is never reset: OpenStore fails with an error wrapping
// ErrCorruptMetadata that names the file. Leftover temporary files of
// interrupted writes are removed. All file access goes through fsys (nil
// means vfs.Default). A nil logger discards logs.
func OpenStore(fsys vfs.FS, dir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if fsys == nil {
		fsys = vfs.Default
	}
	s := &Store{fs: fsys, dir: dir, path: filepath.Join(dir, metaFileName), logger: logger}
	if err := mkdirAll(fsys, dir); err != nil {
		return nil, fmt.Errorf("creating metadata directory: %w", err)
	}
	removed, err := removeTempFiles(fsys, dir, metaFileName)
	for _, p := range removed {
		logger.Warn("removed temporary metadata file left by an interrupted write", "path", p)
	}
	if err != nil {
		return nil, fmt.Errorf("removing temporary metadata files: %w", err)
	}
	data, found, err := readFile(fsys, s.path)
	if err != nil {
		return nil, fmt.Errorf("reading metadata: %w", err)
	}
	if !found {
		st := newState(encodeUUID(newUUID()))
		if err := s.persist(st); err != nil {
			return nil, err
		}
		s.st = st
		logger.Info("created metadata file", "path", s.path, "cluster_id", st.clusterID)
		return s, nil
	}
	st, err := decodeState(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (refusing to start: restore the file from a backup, or move it away to start with empty metadata)",
			ErrCorruptMetadata, s.path, err)
	}
	s.st = st
	logger.Info("loaded metadata", "path", s.path, "cluster_id", st.clusterID, "topics", len(st.topics))
	return s, nil
}

// persist writes st durably.
func (s *Store) persist(st *state) error {
	data, err := encodeState(st)
	if err != nil {
		return fmt.Errorf("encoding metadata: %w", err)
	}
	if err := writeFileAtomic(s.fs, s.dir, metaFileName, data); err != nil {
		return fmt.Errorf("writing metadata %s: %w", s.path, err)
	}
	return nil
}

// mutate applies fn to a copy of the state, persists the copy and publishes it.
func (s *Store) mutate(fn func(st *state) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.st.clone()
	if err := fn(next); err != nil {
		return err
	}
	if err := s.persist(next); err != nil {
		return err
	}
	s.st = next
	return nil
}

// ClusterID is the cluster's ID: a Kafka-style 22-character base64url UUID
// generated when the metadata file was created.
func (s *Store) ClusterID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.st.clusterID
}

// Topics returns deep copies of all topics, sorted by name.
func (s *Store) Topics() []Topic {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Topic, 0, len(s.st.topics))
	for _, t := range s.st.topics {
		out = append(out, t.clone())
	}
	slices.SortFunc(out, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Topic returns a deep copy of the named topic.
func (s *Store) Topic(name string) (Topic, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.st.topics[name]
	if !ok {
		return Topic{}, false
	}
	return t.clone(), true
}

// TopicByID returns a deep copy of the topic with the given ID.
func (s *Store) TopicByID(id [16]byte) (Topic, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name, ok := s.st.byID[id]
	if !ok {
		return Topic{}, false
	}
	return s.st.topics[name].clone(), true
}

// CreateTopic stores a new topic and returns it as stored. A zero ID is
// replaced by a random version-4 UUID. The name must pass ValidateTopicName,
// Partitions must be positive (ErrInvalidPartitions) and Configs must pass
// ValidateTopicConfigs. Errors: ErrTopicExists, ErrDuplicateTopicID.
func (s *Store) CreateTopic(t Topic) (Topic, error) {
	if err := ValidateTopicName(t.Name); err != nil {
		return Topic{}, err
	}
	if t.Partitions < 1 {
		return Topic{}, newKafkaError(ErrInvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
	}
	if err := ValidateTopicConfigs(t.Configs); err != nil {
		return Topic{}, err
	}
	t = t.clone()
	err := s.mutate(func(st *state) error {
		if _, exists := st.topics[t.Name]; exists {
			return newKafkaError(ErrTopicExists, "Topic '"+t.Name+"' already exists.")
		}
		if t.ID == ([16]byte{}) {
			t.ID = unusedID(st)
		} else if other, used := st.byID[t.ID]; used {
			return newKafkaError(ErrDuplicateTopicID, "Topic ID "+encodeUUID(t.ID)+" is already used by topic '"+other+"'.")
		}
		st.add(t)
		return nil
	})
	if err != nil {
		return Topic{}, err
	}
	s.logger.Debug("created topic", "topic", t.Name, "id", encodeUUID(t.ID), "partitions", t.Partitions)
	return t.clone(), nil
}

// CreateTopics stores several new topics with one write of the file, as
// CreateTopic does each: created[i] is ts[i] as stored when errs[i] is nil.
// err is the write's error, in which case nothing was created.
func (s *Store) CreateTopics(ts []Topic) (created []Topic, errs []error, err error) {
	created = make([]Topic, len(ts))
	errs = make([]error, len(ts))
	for i, t := range ts {
		switch {
		case ValidateTopicName(t.Name) != nil:
			errs[i] = ValidateTopicName(t.Name)
		case t.Partitions < 1:
			errs[i] = newKafkaError(ErrInvalidPartitions, "Number of partitions was set to an invalid non-positive value.")
		case ValidateTopicConfigs(t.Configs) != nil:
			errs[i] = ValidateTopicConfigs(t.Configs)
		}
		created[i] = t.clone()
	}
	err = s.mutate(func(st *state) error {
		for i := range created {
			if errs[i] != nil {
				continue
			}
			t := &created[i]
			if _, exists := st.topics[t.Name]; exists {
				errs[i] = newKafkaError(ErrTopicExists, "Topic '"+t.Name+"' already exists.")
				continue
			}
			if t.ID == ([16]byte{}) {
				t.ID = unusedID(st)
			} else if other, used := st.byID[t.ID]; used {
				errs[i] = newKafkaError(ErrDuplicateTopicID, "Topic ID "+encodeUUID(t.ID)+" is already used by topic '"+other+"'.")
				continue
			}
			st.add(*t)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for i, t := range created {
		if errs[i] == nil {
			s.logger.Debug("created topic", "topic", t.Name, "id", encodeUUID(t.ID), "partitions", t.Partitions)
			created[i] = t.clone()
		}
	}
	return created, errs, nil
}

// DeleteTopic removes a topic and returns it. Error: ErrUnknownTopic.
func (s *Store) DeleteTopic(name string) (Topic, error) {
	var deleted Topic
	err := s.mutate(func(st *state) error {
		t, ok := st.topics[name]
		if !ok {
			return unknownTopic(name)
		}
		delete(st.topics, name)
		delete(st.byID, t.ID)
		deleted = t
		return nil
	})
	if err != nil {
		return Topic{}, err
	}
	s.logger.Debug("deleted topic", "topic", name, "id", encodeUUID(deleted.ID))
	return deleted.clone(), nil
}

// SetPartitions raises a topic's partition count. Errors: ErrUnknownTopic;
// ErrInvalidPartitions unless n is greater than the current count.
func (s *Store) SetPartitions(name string, n int32) error {
	return s.mutate(func(st *state) error {
		t, ok := st.topics[name]
		switch {
		case !ok:
			return unknownTopic(name)
		case n == t.Partitions:
			return newKafkaError(ErrInvalidPartitions, "Topic already has "+itoa(t.Partitions)+" partition(s).")
		case n < t.Partitions:
			return newKafkaError(ErrInvalidPartitions, "The topic "+name+" currently has "+itoa(t.Partitions)+
				" partition(s); "+itoa(n)+" would not be an increase.")
		}
		t.Partitions = n
		st.topics[name] = t
		return nil
	})
}

// SetTopicConfigs replaces a topic's config overrides with cfg, which must
// pass ValidateTopicConfigs. Error: ErrUnknownTopic.
func (s *Store) SetTopicConfigs(name string, cfg map[string]string) error {
	if err := ValidateTopicConfigs(cfg); err != nil {
		return err
	}
	return s.mutate(func(st *state) error {
		t, ok := st.topics[name]
		if !ok {
			return unknownTopic(name)
		}
		t.Configs = maps.Clone(cfg)
		st.topics[name] = t.clone()
		return nil
	})
}

// BrokerDynamic returns a copy of the cluster-wide dynamic broker configs.
func (s *Store) BrokerDynamic() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.st.brokerDynamic)
}

// SetBrokerDynamic replaces the cluster-wide dynamic broker configs with cfg,
// which must pass ValidateBrokerConfigs(cfg, true).
func (s *Store) SetBrokerDynamic(cfg map[string]string) error {
	if err := ValidateBrokerConfigs(cfg, true); err != nil {
		return err
	}
	return s.mutate(func(st *state) error {
		st.brokerDynamic = maps.Clone(cfg)
		if st.brokerDynamic == nil {
			st.brokerDynamic = map[string]string{}
		}
		return nil
	})
}

// GroupConfigs returns a copy of a group's dynamic configs (nil when none).
func (s *Store) GroupConfigs(group string) map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.st.groupConfigs[group])
}

// SetGroupConfigs replaces a group's dynamic configs with cfg (validated by
// the caller with ValidateGroupConfigs); an empty cfg removes the group's
// entry.
func (s *Store) SetGroupConfigs(group string, cfg map[string]string) error {
	return s.mutate(func(st *state) error {
		if len(cfg) == 0 {
			delete(st.groupConfigs, group)
		} else {
			st.groupConfigs[group] = maps.Clone(cfg)
		}
		return nil
	})
}

// unusedID returns a random topic ID no topic in st has.
func unusedID(st *state) [16]byte {
	for {
		id := newUUID()
		if _, used := st.byID[id]; !used {
			return id
		}
	}
}

func unknownTopic(name string) error {
	return newKafkaError(ErrUnknownTopic, "Topic '"+name+"' does not exist.")
}

func itoa(n int32) string { return strconv.FormatInt(int64(n), 10) }
