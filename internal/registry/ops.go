package registry

import (
	"fmt"
	"strconv"
)

// versionRef resolves a version string: a positive number, "latest" or
// -1 (the newest live version; with deleted, the newest of all).
func parseVersion(s string) (int, bool, error) {
	if s == "latest" || s == "-1" {
		return 0, true, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		return 0, false, newErr(codeInvalidVersion, fmt.Sprintf("The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s))
	}
	return v, false, nil
}

// findVersion finds subject@version. Called with mu held.
func (r *Registry) findVersion(subject, version string, deleted bool) (*entry, error) {
	v, latest, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	ss := r.st.subjects[subject]
	if ss == nil || len(ss.versions) == 0 || (!deleted && !ss.live()) {
		return nil, newErr(codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", subject))
	}
	if latest {
		l := ss.list(deleted)
		if len(l) == 0 {
			return nil, newErr(codeVersionNotFound, fmt.Sprintf("Version %s not found.", version))
		}
		return l[len(l)-1], nil
	}
	e := ss.versions[v]
	if e == nil || (e.deleted && !deleted) {
		return nil, newErr(codeVersionNotFound, fmt.Sprintf("Version %d not found.", v))
	}
	return e, nil
}

// SchemaInfo is a subject version as the API returns it.
type SchemaInfo struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	Metadata   any         `json:"metadata,omitempty"`
	RuleSet    any         `json:"ruleSet,omitempty"`
	Schema     string      `json:"schema"`
	Deleted    bool        `json:"deleted,omitempty"`
}

func (r *Registry) info(e *entry) SchemaInfo {
	sc := r.st.ids[e.id]
	si := SchemaInfo{Subject: e.subject, Version: e.version, ID: e.id, References: e.refs, Schema: sc.text, Deleted: e.deleted}
	if sc.typ != TypeAvro {
		si.SchemaType = sc.typ
	}
	if len(e.meta) > 0 && string(e.meta) != "null" {
		si.Metadata = e.meta
	}
	if len(e.rules) > 0 && string(e.rules) != "null" {
		si.RuleSet = e.rules
	}
	return si
}

// Lookup finds the version of subject holding req's schema.
func (r *Registry) Lookup(subject string, req SchemaRequest, normalize, deleted bool) (SchemaInfo, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ss := r.st.subjects[subject]
	if ss == nil || len(ss.versions) == 0 || (!deleted && !ss.live()) {
		return SchemaInfo{}, newErr(codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", subject))
	}
	_, text, err := r.prepare(&req, normalize)
	if err != nil {
		return SchemaInfo{}, err
	}
	l := ss.list(deleted)
	for i := len(l) - 1; i >= 0; i-- {
		if r.matches(l[i], req.SchemaType, text, &req) {
			return r.info(l[i]), nil
		}
	}
	return SchemaInfo{}, newErr(codeSchemaNotFound, "Schema not found")
}

// DeleteVersion soft-deletes (or, permanent, removes a soft-deleted)
// subject version and returns its number.
func (r *Registry) DeleteVersion(subject, version string, permanent bool) (int, error) {
	if err := r.lockWrites(); err != nil {
		return 0, err
	}
	defer r.wmu.Unlock()
	r.mu.RLock()
	rec, v, err := r.planDeleteVersion(subject, version, permanent)
	r.mu.RUnlock()
	if err != nil {
		return 0, err
	}
	return v, r.write(rec)
}

func (r *Registry) planDeleteVersion(subject, version string, permanent bool) (Record, int, error) {
	if err := writable(r.st.modeOf(subject)); err != nil {
		return Record{}, 0, err
	}
	e, err := r.findVersion(subject, version, permanent)
	if err != nil && !permanent {
		if de, derr := r.findVersion(subject, version, true); derr == nil && de.deleted {
			e, err = de, nil
		}
	}
	if err != nil {
		return Record{}, 0, err
	}
	if refs := r.st.referencedBy(subject, e.version); len(refs) > 0 {
		return Record{}, 0, newErr(codeReferenceExists, fmt.Sprintf("One or more references exist to the schema {subject=%s,version=%d}", subject, e.version))
	}
	if permanent {
		if !e.deleted {
			return Record{}, 0, newErr(codeVersionNotSoftDeleted, fmt.Sprintf("Subject '%s' Version %d was not deleted first before being permanently deleted", subject, e.version))
		}
		return Record{Key: schemaKey(subject, e.version)}, e.version, nil
	}
	if e.deleted {
		return Record{}, 0, newErr(codeVersionSoftDeleted, fmt.Sprintf("Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, e.version))
	}
	return r.deletedRecord(e), e.version, nil
}

// deletedRecord is e's SCHEMA record with deleted set.
func (r *Registry) deletedRecord(e *entry) Record {
	sc := r.st.ids[e.id]
	typ := sc.typ
	if typ == TypeAvro {
		typ = ""
	}
	refs := e.refs
	if refs == nil {
		refs = []Reference{}
	}
	v := schemaValue{Subject: e.subject, Version: e.version, ID: e.id, SchemaType: typ, References: refs,
		Metadata: e.meta, RuleSet: e.rules, Schema: sc.text, Deleted: true}
	return Record{Key: schemaKey(e.subject, e.version), Value: mustJSON(v)}
}

// DeleteSubject soft-deletes every live version of subject (permanent:
// removes its soft-deleted versions) and returns the versions.
func (r *Registry) DeleteSubject(subject string, permanent bool) ([]int, error) {
	if err := r.lockWrites(); err != nil {
		return nil, err
	}
	defer r.wmu.Unlock()
	r.mu.RLock()
	recs, vs, err := r.planDeleteSubject(subject, permanent)
	r.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return vs, r.write(recs...)
}

func (r *Registry) planDeleteSubject(subject string, permanent bool) ([]Record, []int, error) {
	if err := writable(r.st.modeOf(subject)); err != nil {
		return nil, nil, err
	}
	ss := r.st.subjects[subject]
	if ss == nil || len(ss.versions) == 0 {
		return nil, nil, newErr(codeSubjectNotFound, fmt.Sprintf("Subject '%s' not found.", subject))
	}
	all := ss.list(true)
	for _, e := range all {
		if refs := r.st.referencedBy(subject, e.version); len(refs) > 0 {
			return nil, nil, newErr(codeReferenceExists, fmt.Sprintf("One or more references exist to the schema {subject=%s,version=%d}", subject, e.version))
		}
	}
	var recs []Record
	var vs []int
	if permanent {
		if ss.live() {
			return nil, nil, newErr(codeSubjectNotSoftDeleted, fmt.Sprintf("Subject '%s' was not deleted first before being permanently deleted", subject))
		}
		for _, e := range all {
			recs = append(recs, Record{Key: schemaKey(subject, e.version)})
			vs = append(vs, e.version)
		}
		return recs, vs, nil
	}
	if !ss.live() {
		return nil, nil, newErr(codeSubjectSoftDeleted, fmt.Sprintf("Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject))
	}
	live := ss.list(false)
	for _, e := range live {
		recs = append(recs, r.deletedRecord(e))
		vs = append(vs, e.version)
	}
	// Confluent's marker too, so its reader sees the subject deletion.
	recs = append(recs, Record{Key: subjectKey(keyDeleteSubject, subject),
		Value: mustJSON(deleteSubjectValue{Subject: subject, Version: live[len(live)-1].version})})
	return recs, vs, nil
}

// SetConfig sets subject's compatibility level ("": the global one).
func (r *Registry) SetConfig(subject, level string) error {
	if !validLevel(level) {
		return newErr(codeInvalidCompatibility, fmt.Sprintf("Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive (got %q)", level))
	}
	if subject != "" {
		if err := validSubject(subject); err != nil {
			return err
		}
	}
	if err := r.lockWrites(); err != nil {
		return err
	}
	defer r.wmu.Unlock()
	return r.write(Record{Key: subjectKey(keyConfig, subject), Value: mustJSON(configValue{level})})
}

// Config returns subject's own level ("" subject: the global one); with
// fallback, the global level when the subject has none.
func (r *Registry) Config(subject string, fallback bool) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if subject == "" {
		return r.st.compatibility(""), nil
	}
	if ss := r.st.subjects[subject]; ss != nil && ss.config != "" {
		return ss.config, nil
	}
	if fallback {
		return r.st.compatibility(""), nil
	}
	return "", newErr(codeSubjectConfigNotFound, fmt.Sprintf("Subject '%s' does not have subject-level compatibility configured", subject))
}

// DeleteConfig removes subject's level (or the global one, back to the
// default) and returns the level it had.
func (r *Registry) DeleteConfig(subject string) (string, error) {
	if err := r.lockWrites(); err != nil {
		return "", err
	}
	defer r.wmu.Unlock()
	old, err := r.Config(subject, false)
	if err != nil {
		return "", err
	}
	return old, r.write(Record{Key: subjectKey(keyConfig, subject)})
}

// SetMode sets subject's mode ("": the global one). Switching to IMPORT
// needs an empty subject (registry) unless force.
func (r *Registry) SetMode(subject, mode string, force bool) error {
	if !validMode(mode) {
		return newErr(codeInvalidMode, fmt.Sprintf("Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT (got %q)", mode))
	}
	if subject != "" {
		if err := validSubject(subject); err != nil {
			return err
		}
	}
	if err := r.lockWrites(); err != nil {
		return err
	}
	defer r.wmu.Unlock()
	if mode == ModeImport && !force {
		r.mu.RLock()
		var nonEmpty bool
		if subject == "" {
			nonEmpty = len(r.st.subjectNames(true)) > 0
		} else {
			nonEmpty = r.st.subjects[subject] != nil && len(r.st.subjects[subject].versions) > 0
		}
		r.mu.RUnlock()
		if nonEmpty {
			return newErr(codeOperationNotPermitted, "Cannot import since found existing subjects")
		}
	}
	return r.write(Record{Key: subjectKey(keyMode, subject), Value: mustJSON(modeValue{mode})})
}

// Mode returns subject's mode, like Config.
func (r *Registry) Mode(subject string, fallback bool) (string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if subject == "" {
		return r.st.modeOf(""), nil
	}
	if ss := r.st.subjects[subject]; ss != nil && ss.mode != "" {
		return ss.mode, nil
	}
	if fallback {
		return r.st.modeOf(""), nil
	}
	return "", newErr(codeSubjectModeNotFound, fmt.Sprintf("Subject '%s' does not have subject-level mode configured", subject))
}

// DeleteMode removes subject's mode and returns the mode it had.
func (r *Registry) DeleteMode(subject string) (string, error) {
	if err := r.lockWrites(); err != nil {
		return "", err
	}
	defer r.wmu.Unlock()
	old, err := r.Mode(subject, false)
	if err != nil {
		return "", err
	}
	return old, r.write(Record{Key: subjectKey(keyMode, subject)})
}

// CheckCompatibility checks req against subject's version (all versions
// the level covers when version is ""), returning the messages.
func (r *Registry) CheckCompatibility(subject, version string, req SchemaRequest, normalize bool) ([]string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	p, _, err := r.prepare(&req, normalize)
	if err != nil {
		return nil, err
	}
	level := r.st.compatibility(subject)
	var prev []parsedSchema
	if version == "" {
		if ss := r.st.subjects[subject]; ss != nil {
			if prev, err = r.previousParsed(ss); err != nil {
				return nil, err
			}
		}
	} else {
		e, err := r.findVersion(subject, version, false)
		if err != nil {
			return nil, err
		}
		old, err := r.parsedByID(e.id)
		if err != nil {
			return nil, err
		}
		prev = []parsedSchema{old}
	}
	for _, old := range prev {
		if schemaTypeOf(old) != req.SchemaType {
			return []string{"Incompatible because of different schema type"}, nil
		}
	}
	return checkLevel(level, p, prev), nil
}

func schemaTypeOf(p parsedSchema) string {
	switch p.(type) {
	case *avroSchema:
		return TypeAvro
	case *protoSchema:
		return TypeProtobuf
	case *jsonSchema:
		return TypeJSON
	}
	return ""
}
