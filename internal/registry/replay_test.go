package registry

import (
	"errors"
	"reflect"
	"testing"
)

// Records as Confluent's registry (and Karapace) write them replay into the
// same state: schemaType absent for Avro, null global subjects, subject
// deletion markers, NOOPs; unknown key types are ignored, malformed records
// skipped with an error.
func TestReplayConfluentRecords(t *testing.T) {
	recs := []struct{ key, value string }{
		{`{"keytype":"NOOP","magic":0}`, ""},
		{`{"keytype":"CONFIG","subject":null,"magic":0}`, `{"compatibilityLevel":"FULL"}`},
		{`{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}`, `{"subject":"a","version":1,"id":7,"schema":"\"string\"","deleted":false}`},
		{`{"keytype":"SCHEMA","subject":"a","version":2,"magic":1}`, `{"subject":"a","version":2,"id":9,"schema":"\"int\"","deleted":false}`},
		{`{"keytype":"SCHEMA","subject":"p","version":1,"magic":1}`, `{"subject":"p","version":1,"id":8,"schemaType":"PROTOBUF","references":[],"schema":"syntax = \"proto3\"; message M { int32 a = 1; }","deleted":false}`},
		{`{"keytype":"MODE","subject":"p","magic":0}`, `{"mode":"READONLY"}`},
		{`{"keytype":"CONFIG","subject":"a","magic":0}`, `{"compatibilityLevel":"NONE"}`},
		{`{"keytype":"DELETE_SUBJECT","subject":"a","magic":0}`, `{"subject":"a","version":1}`},
		{`{"keytype":"SOMETHING_NEW","magic":0}`, `{"x":1}`},
	}
	r := New(Config{Store: &memStore{}})
	for _, rec := range recs {
		var v []byte
		if rec.value != "" {
			v = []byte(rec.value)
		}
		if err := r.Replay([]byte(rec.key), v); err != nil {
			t.Fatalf("replay %s: %v", rec.key, err)
		}
	}
	for _, bad := range [][2]string{
		{`not json`, `{}`},
		{`{"keytype":"SCHEMA","subject":"x","version":1,"magic":1}`, `{"subject":"x"}`},
		{`{"keytype":"CONFIG","subject":"x","magic":0}`, `[`},
	} {
		if err := r.Replay([]byte(bad[0]), []byte(bad[1])); !errors.Is(err, ErrBadRecord) {
			t.Errorf("replay %s: %v, want ErrBadRecord", bad[0], err)
		}
	}
	if lvl, _ := r.Config("", false); lvl != LevelFull {
		t.Errorf("global level %s", lvl)
	}
	if lvl, _ := r.Config("a", false); lvl != LevelNone {
		t.Errorf("subject level %s", lvl)
	}
	if m, _ := r.Mode("p", false); m != ModeReadOnly {
		t.Errorf("mode %s", m)
	}
	r.mu.RLock()
	live := r.st.subjects["a"].list(false)
	names := r.st.subjectNames(false)
	maxID := r.st.maxID
	typ := r.st.ids[8].typ
	r.mu.RUnlock()
	if len(live) != 1 || live[0].version != 2 || live[0].id != 9 {
		t.Errorf("live versions of a after DELETE_SUBJECT up to 1: %+v", live)
	}
	if !reflect.DeepEqual(names, []string{"a", "p"}) || maxID != 9 || typ != TypeProtobuf {
		t.Errorf("subjects %v max id %d type %s", names, maxID, typ)
	}
	// A tombstone removes a version.
	if err := r.Replay([]byte(`{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.findVersion("a", "1", true); err == nil {
		t.Error("tombstoned version still there")
	}
	// New ids continue after the highest replayed one.
	id, err := r.Register("n", SchemaRequest{Schema: `"long"`}, false)
	if err != nil || id != 10 {
		t.Fatalf("register after replay: %d %v", id, err)
	}
}

func FuzzReplay(f *testing.F) {
	f.Add([]byte(`{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}`), []byte(`{"subject":"a","version":1,"id":1,"schema":"\"string\"","deleted":false}`))
	f.Add([]byte(`{"keytype":"DELETE_SUBJECT","subject":"a","magic":0}`), []byte(`{"subject":"a","version":3}`))
	f.Add([]byte(`{"keytype":"CONFIG","subject":null,"magic":0}`), []byte(`{"compatibilityLevel":"FULL"}`))
	f.Add([]byte(`{"keytype":"CLEAR_SUBJECT","subject":"a","magic":0}`), []byte(nil))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r := New(Config{Store: &memStore{}})
		_ = r.Replay(key, value)
		_ = r.Replay(key, nil)
		// The state stays usable.
		r.mu.RLock()
		_ = r.st.subjectNames(true)
		r.mu.RUnlock()
		if _, err := r.Register("z", SchemaRequest{Schema: `"int"`}, false); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				t.Fatalf("register after replay: %v", err)
			}
		}
	})
}
