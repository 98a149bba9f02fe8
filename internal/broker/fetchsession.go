package broker

// Incremental fetch sessions (KIP-227). A consumer that fetches many
// partitions sends, after its first full fetch, only the partitions whose
// fetch position changed; the broker remembers the rest and answers only
// for partitions with new data or changed metadata.
//
// Request (session_id, session_epoch):
//	(0, -1)  sessionless full fetch
//	(0,  0)  full fetch that creates a session
//	(N,  0)  close session N, create a new one (full fetch)
//	(N, -1)  close session N, sessionless full fetch
//	(N, E>0) incremental fetch in session N, E must be the expected epoch
//
// The cache holds max.incremental.fetch.session.cache.slots sessions (1000)
// and evicts the least recently used when full.

import (
	"sync"
	"time"
)

type sessKey struct {
	topicID   [16]byte // set for v13+ sessions
	topic     string   // set for older sessions
	partition int32
}

type sessPart struct {
	fetchOffset        int64
	maxBytes           int32
	currentLeaderEpoch int32

	// What the last response in this session said, to decide whether an
	// incremental response must include the partition.
	sent              bool
	hw, lso, logStart int64
	lastErr           int16
}

type fetchSession struct {
	mu       sync.Mutex // held for a whole request in this session
	id       int32
	epoch    int32 // the epoch the next request must carry
	parts    map[sessKey]*sessPart
	order    []sessKey
	lastUsed time.Time
}

func (s *fetchSession) upsert(k sessKey, off int64, maxBytes, leaderEpoch int32) {
	p, ok := s.parts[k]
	if !ok {
		p = &sessPart{}
		s.parts[k] = p
		s.order = append(s.order, k)
	}
	p.fetchOffset, p.maxBytes, p.currentLeaderEpoch = off, maxBytes, leaderEpoch
}

func (s *fetchSession) forget(k sessKey) {
	if _, ok := s.parts[k]; !ok {
		return
	}
	delete(s.parts, k)
	for i, o := range s.order {
		if o == k {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
}

type fetchSessions struct {
	mu     sync.Mutex
	max    int
	idle   time.Duration
	now    func() time.Time
	nextID int32
	byID   map[int32]*fetchSession
}

func newFetchSessions(max int, now func() time.Time) *fetchSessions {
	return &fetchSessions{max: max, idle: 2 * time.Minute, now: now, byID: map[int32]*fetchSession{}, nextID: 1}
}

// create starts a session, evicting the least recently used one if the
// cache is full.
func (fs *fetchSessions) create() *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(fs.byID) >= fs.max {
		var lru *fetchSession
		for _, s := range fs.byID {
			if lru == nil || s.lastUsed.Before(lru.lastUsed) {
				lru = s
			}
		}
		delete(fs.byID, lru.id)
	}
	for fs.byID[fs.nextID] != nil || fs.nextID <= 0 {
		fs.nextID++
		if fs.nextID <= 0 {
			fs.nextID = 1
		}
	}
	s := &fetchSession{id: fs.nextID, epoch: 1, parts: map[sessKey]*sessPart{}, lastUsed: fs.now()}
	fs.nextID++
	fs.byID[s.id] = s
	return s
}

func (fs *fetchSessions) get(id int32) *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.byID[id]
	if s != nil {
		s.lastUsed = fs.now()
	}
	return s
}

func (fs *fetchSessions) remove(id int32) {
	fs.mu.Lock()
	delete(fs.byID, id)
	fs.mu.Unlock()
}

// expire drops sessions idle for longer than the idle timeout.
func (fs *fetchSessions) expire() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	cutoff := fs.now().Add(-fs.idle)
	for id, s := range fs.byID {
		if s.lastUsed.Before(cutoff) {
			delete(fs.byID, id)
		}
	}
}
