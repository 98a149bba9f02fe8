package registry

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// entry is one subject version.
type entry struct {
	subject string
	version int
	id      int
	deleted bool
	refs    []Reference
	meta    json.RawMessage
	rules   json.RawMessage
}

// schema is one schema id: its text and type, shared by every subject
// version registered with it.
type schema struct {
	id      int
	typ     string
	text    string
	refs    []Reference
	ident   string              // identity(typ, text): what registrations match on
	holders map[*entry]struct{} // the subject versions holding this id
}

type subjectState struct {
	versions map[int]*entry
	config   string // "" when none
	mode     string // "" when none
}

// state is the registry as the _schemas records built it. It is changed
// only by apply (replay and the write path alike).
type state struct {
	subjects     map[string]*subjectState
	ids          map[int]*schema
	byContent    map[string]int // contentKey -> id
	maxID        int
	globalConfig string
	globalMode   string
}

func newState() *state {
	return &state{subjects: map[string]*subjectState{}, ids: map[int]*schema{}, byContent: map[string]int{}}
}

// contentKey identifies a schema's content: type, identity and references.
func contentKey(typ, text string, refs []Reference) string {
	var b strings.Builder
	b.WriteString(typ)
	b.WriteByte(0)
	b.WriteString(text)
	for _, r := range refs {
		fmt.Fprintf(&b, "\x00%s\x00%s\x00%d", r.Name, r.Subject, r.Version)
	}
	return b.String()
}

func (s *state) subject(name string, create bool) *subjectState {
	ss := s.subjects[name]
	if ss == nil && create {
		ss = &subjectState{versions: map[int]*entry{}}
		s.subjects[name] = ss
	}
	return ss
}

// apply changes the state by one record. Malformed records are an error
// (the caller logs and skips them on replay); unknown key types are
// ignored, as Confluent's registry does.
func (s *state) apply(key, value []byte) error {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("%w: key %q: %w", ErrBadRecord, key, err)
	}
	subj := ""
	if k.Subject != nil {
		subj = *k.Subject
	}
	switch k.KeyType {
	case keySchema:
		if value == nil {
			s.removeVersion(subj, k.Version)
			return nil
		}
		var v schemaValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("%w: schema value: %w", ErrBadRecord, err)
		}
		if v.ID <= 0 || v.Version <= 0 || v.Subject == "" {
			return fmt.Errorf("%w: schema value with id %d version %d subject %q", ErrBadRecord, v.ID, v.Version, v.Subject)
		}
		s.putVersion(&v)
	case keyConfig:
		level := ""
		if value != nil {
			var v configValue
			if err := json.Unmarshal(value, &v); err != nil {
				return fmt.Errorf("%w: config value: %w", ErrBadRecord, err)
			}
			level = v.CompatibilityLevel
		}
		if subj == "" {
			s.globalConfig = level
		} else if ss := s.subject(subj, level != ""); ss != nil {
			ss.config = level
			s.dropIfEmpty(subj)
		}
	case keyMode:
		mode := ""
		if value != nil {
			var v modeValue
			if err := json.Unmarshal(value, &v); err != nil {
				return fmt.Errorf("%w: mode value: %w", ErrBadRecord, err)
			}
			mode = v.Mode
		}
		if subj == "" {
			s.globalMode = mode
		} else if ss := s.subject(subj, mode != ""); ss != nil {
			ss.mode = mode
			s.dropIfEmpty(subj)
		}
	case keyDeleteSubject:
		if value == nil {
			return nil
		}
		var v deleteSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("%w: delete-subject value: %w", ErrBadRecord, err)
		}
		if ss := s.subject(v.Subject, false); ss != nil {
			for _, e := range ss.versions {
				if e.version <= v.Version {
					e.deleted = true
				}
			}
		}
	case keyClearSubject:
		if value == nil {
			return nil
		}
		var v clearSubjectValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("%w: clear-subject value: %w", ErrBadRecord, err)
		}
		if ss := s.subject(v.Subject, false); ss != nil {
			for ver, e := range ss.versions {
				if e.deleted {
					s.removeVersion(v.Subject, ver)
				}
			}
		}
	}
	return nil
}

func (s *state) putVersion(v *schemaValue) {
	typ := v.SchemaType
	if typ == "" {
		typ = TypeAvro
	}
	ss := s.subject(v.Subject, true)
	if old := ss.versions[v.Version]; old != nil {
		s.release(old)
	}
	e := &entry{subject: v.Subject, version: v.Version, id: v.ID, deleted: v.Deleted,
		refs: v.References, meta: v.Metadata, rules: v.RuleSet}
	ss.versions[v.Version] = e
	sc := s.ids[v.ID]
	if sc == nil {
		sc = &schema{id: v.ID, typ: typ, text: v.Schema, refs: v.References, ident: identity(typ, v.Schema), holders: map[*entry]struct{}{}}
		s.ids[v.ID] = sc
		if k := contentKey(typ, sc.ident, v.References); s.byContent[k] == 0 {
			s.byContent[k] = v.ID
		}
	}
	sc.holders[e] = struct{}{}
	if v.ID > s.maxID {
		s.maxID = v.ID
	}
}

func (s *state) removeVersion(subject string, version int) {
	ss := s.subject(subject, false)
	if ss == nil {
		return
	}
	if e := ss.versions[version]; e != nil {
		delete(ss.versions, version)
		s.release(e)
	}
	s.dropIfEmpty(subject)
}

func (s *state) release(e *entry) {
	id := e.id
	if sc := s.ids[id]; sc != nil {
		delete(sc.holders, e)
		if len(sc.holders) == 0 {
			delete(s.ids, id)
			if k := contentKey(sc.typ, sc.ident, sc.refs); s.byContent[k] == id {
				delete(s.byContent, k)
			}
		}
	}
}

func (s *state) dropIfEmpty(subject string) {
	if ss := s.subjects[subject]; ss != nil && len(ss.versions) == 0 && ss.config == "" && ss.mode == "" {
		delete(s.subjects, subject)
	}
}

// versions lists a subject's versions in order, with or without the
// soft-deleted ones.
func (ss *subjectState) list(deleted bool) []*entry {
	if ss == nil {
		return nil
	}
	out := make([]*entry, 0, len(ss.versions))
	for _, e := range ss.versions {
		if deleted || !e.deleted {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out
}

// maxVersion is the highest version the subject ever had that is still in
// the log (soft-deleted ones count: versions are not reused).
func (ss *subjectState) maxVersion() int {
	m := 0
	if ss != nil {
		for v := range ss.versions {
			m = max(m, v)
		}
	}
	return m
}

// live reports whether the subject has a version that is not soft-deleted.
func (ss *subjectState) live() bool {
	if ss == nil {
		return false
	}
	for _, e := range ss.versions {
		if !e.deleted {
			return true
		}
	}
	return false
}

// subjectNames lists subjects, sorted.
func (s *state) subjectNames(deleted bool) []string {
	var out []string
	for name, ss := range s.subjects {
		if len(ss.versions) > 0 && (deleted || ss.live()) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// referencedBy lists the ids of live entries that reference subject@version.
func (s *state) referencedBy(subject string, version int) []int {
	var out []int
	for _, ss := range s.subjects {
		for _, e := range ss.versions {
			if e.deleted {
				continue
			}
			for _, r := range e.refs {
				if r.Subject == subject && r.Version == version {
					out = append(out, e.id)
					break
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// entriesOf lists the subject versions holding id.
func (s *state) entriesOf(id int, deleted bool) []*entry {
	var out []*entry
	if sc := s.ids[id]; sc != nil {
		for e := range sc.holders {
			if deleted || !e.deleted {
				out = append(out, e)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].subject != out[j].subject {
			return out[i].subject < out[j].subject
		}
		return out[i].version < out[j].version
	})
	return out
}

func (s *state) compatibility(subject string) string {
	if ss := s.subjects[subject]; ss != nil && ss.config != "" {
		return ss.config
	}
	if s.globalConfig != "" {
		return s.globalConfig
	}
	return LevelBackward
}

func (s *state) modeOf(subject string) string {
	if ss := s.subjects[subject]; ss != nil && ss.mode != "" {
		return ss.mode
	}
	if s.globalMode != "" {
		return s.globalMode
	}
	return ModeReadWrite
}
