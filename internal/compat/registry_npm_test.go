package compat

// The built-in schema registry driven by the npm registry clients:
// Confluent's own JavaScript client (@confluentinc/schemaregistry: its Avro,
// Protobuf and JSON Schema serializers and deserializers) and
// @kafkajs/confluent-schema-registry, against the real binary. The packages
// are installed from the committed lockfile in testdata/npm by `npm ci`
// (scripts/test.sh runs it); the scripts print one JSON object each.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-io/sluice/codec"
)

// npmClients returns node and the testdata/npm directory once its
// node_modules is installed. Without node_modules the test is skipped,
// except in CI (CI=true), where that is a failure.
func npmClients(t *testing.T) (node, dir string) {
	t.Helper()
	dir = filepath.Join("testdata", "npm")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s/node_modules is missing: run `npm ci` there (scripts/test.sh does)", dir)
		}
		t.Skipf("%s/node_modules is missing: run `(cd internal/compat/%s && npm ci)` to test the npm registry clients", dir, dir)
	}
	return tool(t, "node"), dir
}

// tutorialUser is the seed tutorial's Avro User (testdata/tutorial/user.avsc).
type tutorialUser struct {
	FirstName string `avro:"first_name" json:"first_name"`
	LastName  string `avro:"last_name" json:"last_name"`
	Age       int32  `avro:"age" json:"age"`
}

// decodeTutorialUser decodes a Confluent-framed User with codec's Serde,
// which fetches the writer schema by the id in the framing.
func decodeTutorialUser(t *testing.T, url string, framed []byte) tutorialUser {
	t.Helper()
	avsc, err := os.ReadFile(filepath.Join("testdata", "tutorial", "user.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.Avro[tutorialUser](string(avsc))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := codec.NewRegistryClient([]string{url})
	if err != nil {
		t.Fatal(err)
	}
	s, err := codec.NewSerde(c, reg, codec.AutoRegister(false))
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Decode(context.Background(), framed)
	if err != nil {
		t.Fatalf("codec.Serde decoding %x: %v", framed, err)
	}
	return u
}

func TestRegistryConfluentJS(t *testing.T) {
	node, dir := npmClients(t)
	_, url := startRegistryServer(t, "")
	out := run(t, ctxT(t, 120*time.Second), "", node, filepath.Join(dir, "confluent.js"), url)
	type header struct{ Magic, ID int }
	type errInfo struct {
		Status, Code int
		Message      string
	}
	var res struct {
		AvroUser struct {
			ID            int            `json:"id"`
			LatestID      int            `json:"latest_id"`
			LatestVersion int            `json:"latest_version"`
			Header        header         `json:"header"`
			PayloadHex    string         `json:"payload_hex"`
			Decoded       map[string]any `json:"decoded"`
		} `json:"avro_user"`
		AvroAuto struct {
			Header         header         `json:"header"`
			RegisteredID   int            `json:"registered_id"`
			RegisteredType string         `json:"registered_type"`
			Schema         map[string]any `json:"schema"`
			Decoded        map[string]any `json:"decoded"`
		} `json:"avro_auto"`
		AvroCompatibleBad     bool     `json:"avro_compatible_bad"`
		AvroIncompatibleError *errInfo `json:"avro_incompatible_error"`
		AvroCompatibleGood    bool     `json:"avro_compatible_good"`
		AvroIDv2              int      `json:"avro_id_v2"`
		AvroVersions          []int    `json:"avro_versions"`
		AvroLookupV1          int      `json:"avro_lookup_v1"`
		AvroByID              string   `json:"avro_by_id"`
		MissingSubjectError   *errInfo `json:"missing_subject_error"`
		MissingIDError        *errInfo `json:"missing_id_error"`
		Protobuf              struct {
			HeaderHex              string         `json:"header_hex"`
			PayloadHex             string         `json:"payload_hex"`
			RegisteredID           int            `json:"registered_id"`
			RegisteredType         string         `json:"registered_type"`
			RegisteredIsDescriptor bool           `json:"registered_is_descriptor"`
			Decoded                map[string]any `json:"decoded"`
		} `json:"protobuf"`
		ProtobufOrder struct {
			HeaderHex    string           `json:"header_hex"`
			RegisteredID int              `json:"registered_id"`
			References   []map[string]any `json:"references"`
			DepID        int              `json:"dep_id"`
			Decoded      map[string]any   `json:"decoded"`
		} `json:"protobuf_order"`
		JSON struct {
			ID                 int            `json:"id"`
			Header             header         `json:"header"`
			Payload            string         `json:"payload"`
			Decoded            map[string]any `json:"decoded"`
			InvalidRejected    bool           `json:"invalid_rejected"`
			AutoHeader         header         `json:"auto_header"`
			AutoRegisteredID   int            `json:"auto_registered_id"`
			AutoRegisteredType string         `json:"auto_registered_type"`
			AutoDecoded        map[string]any `json:"auto_decoded"`
		} `json:"json"`
		ProtobufText struct {
			ID        int            `json:"id"`
			HeaderHex string         `json:"header_hex"`
			Decoded   map[string]any `json:"decoded"`
		} `json:"protobuf_text"`
		References struct {
			IDs                 []int          `json:"ids"`
			AvroHex             string         `json:"avro_hex"`
			AvroDecoded         map[string]any `json:"avro_decoded"`
			JSONDecoded         map[string]any `json:"json_decoded"`
			JSONInvalidRejected bool           `json:"json_invalid_rejected"`
			DeleteReferenced    *errInfo       `json:"delete_referenced_error"`
		} `json:"references"`
		Subjects []string `json:"subjects"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	user := map[string]any{"first_name": "John", "last_name": "Doe", "age": float64(30)}

	// Avro: the client's registration, the serializer's framing (the
	// tutorial's User: "John", "Doe", 30 in Avro binary), the
	// deserializer's result.
	au := res.AvroUser
	if au.ID != 1 || au.LatestID != 1 || au.LatestVersion != 1 || au.Header != (header{0, 1}) {
		t.Errorf("avro registration/framing: %+v", au)
	}
	if au.PayloadHex != "084a6f686e06446f653c" || !reflect.DeepEqual(au.Decoded, user) {
		t.Errorf("avro payload %s decoded %v", au.PayloadHex, au.Decoded)
	}
	// The serializer registers the schema it derives from the value.
	aa := res.AvroAuto
	wantAuto := map[string]any{"type": "record", "name": "Record1", "fields": []any{
		map[string]any{"name": "name", "type": "string"}, map[string]any{"name": "qty", "type": "int"}}}
	if aa.RegisteredID != 2 || aa.Header != (header{0, 2}) || aa.RegisteredType != "AVRO" || !reflect.DeepEqual(aa.Schema, wantAuto) {
		t.Errorf("avro auto-registration: %+v", aa)
	}
	if !reflect.DeepEqual(aa.Decoded, map[string]any{"name": "tea", "qty": float64(3)}) {
		t.Errorf("avro auto decoded %v", aa.Decoded)
	}
	// Compatibility (BACKWARD): a field without a default is refused with
	// Confluent's 409, with a default it is the next id and version.
	if res.AvroCompatibleBad || !res.AvroCompatibleGood {
		t.Errorf("compatibility checks: bad %v good %v", res.AvroCompatibleBad, res.AvroCompatibleGood)
	}
	if e := res.AvroIncompatibleError; e == nil || e.Status != 409 || e.Code != 409 {
		t.Errorf("incompatible registration: %+v", e)
	}
	if res.AvroIDv2 != 3 || !reflect.DeepEqual(res.AvroVersions, []int{1, 2}) || res.AvroLookupV1 != 1 || res.AvroByID != "User" {
		t.Errorf("v2 id %d versions %v lookup %d by id %q", res.AvroIDv2, res.AvroVersions, res.AvroLookupV1, res.AvroByID)
	}
	if e := res.MissingSubjectError; e == nil || e.Status != 404 || e.Code != 40401 {
		t.Errorf("missing subject: %+v", e)
	}
	if e := res.MissingIDError; e == nil || e.Status != 404 || e.Code != 40403 {
		t.Errorf("missing id: %+v", e)
	}

	// Protobuf: registered as a base64 FileDescriptorProto, framed with
	// message index [0] (one 0 byte), decoded from the registry's schema.
	pb := res.Protobuf
	if pb.RegisteredID != 4 || pb.RegisteredType != "PROTOBUF" || !pb.RegisteredIsDescriptor || pb.HeaderHex != "000000000400" {
		t.Errorf("protobuf registration/framing: %+v", pb)
	}
	if pb.PayloadHex != "080112084a6f686e20446f65181e" || !reflect.DeepEqual(pb.Decoded, map[string]any{"type": "tutorial.MyMessage", "id": float64(1), "name": "John Doe", "age": float64(30)}) {
		t.Errorf("protobuf payload %s decoded %v", pb.PayloadHex, pb.Decoded)
	}
	// The serializer registers the imported file under its name (the same
	// descriptor as above, so the same id), refers to it, leaves the
	// well-known import to the registry, and frames index [1] as 02 02.
	po := res.ProtobufOrder
	wantRefs := []map[string]any{{"name": "my_protobuf.proto", "subject": "my_protobuf.proto", "version": float64(1)}}
	if po.RegisteredID != 5 || po.DepID != 4 || po.HeaderHex != "00000000050202" || !reflect.DeepEqual(po.References, wantRefs) {
		t.Errorf("protobuf with references: %+v", po)
	}
	wantOrder := map[string]any{"type": "tutorial.Order", "user": map[string]any{"id": float64(2), "name": "Jane Roe", "age": float64(41)},
		"at_seconds": float64(1700000000), "items": []any{"tea", "cake"}}
	if !reflect.DeepEqual(po.Decoded, wantOrder) {
		t.Errorf("protobuf order decoded %v", po.Decoded)
	}

	// JSON Schema: validated on both sides; the derived schema registered.
	js := res.JSON
	if js.ID != 6 || js.Header != (header{0, 6}) || js.Payload != `{"first_name":"John","last_name":"Doe","age":30}` || !reflect.DeepEqual(js.Decoded, user) || !js.InvalidRejected {
		t.Errorf("json schema: %+v", js)
	}
	if js.AutoRegisteredID != 7 || js.AutoHeader != (header{0, 7}) || js.AutoRegisteredType != "JSON" || !reflect.DeepEqual(js.AutoDecoded, map[string]any{"item": "tea", "qty": float64(3)}) {
		t.Errorf("json schema auto-registration: %+v", js)
	}
	// Protobuf registered as .proto text: the serde asks for the schema
	// with ?format=serialized and parses the answer as a descriptor.
	pt := res.ProtobufText
	if pt.ID != 8 || pt.HeaderHex != "000000000800" || !reflect.DeepEqual(pt.Decoded, map[string]any{"type": "MyMessage", "id": float64(7), "name": "Ada", "age": float64(36)}) {
		t.Errorf("protobuf registered as text: %+v", pt)
	}
	// References: Avro (a named type of another subject) and JSON Schema
	// (a $ref), resolved by the deserializers; a referenced subject cannot
	// be deleted.
	rf := res.References
	person := map[string]any{"name": "Ann", "home": map[string]any{"city": "Oslo"}}
	if !reflect.DeepEqual(rf.IDs, []int{9, 10, 11, 12}) || rf.AvroHex != "000000000a06416e6e084f736c6f" || !reflect.DeepEqual(rf.AvroDecoded, person) ||
		!reflect.DeepEqual(rf.JSONDecoded, person) || !rf.JSONInvalidRejected {
		t.Errorf("references: %+v", rf)
	}
	if e := rf.DeleteReferenced; e == nil || e.Status != 422 || e.Code != 42206 {
		t.Errorf("deleting a referenced subject: %+v", e)
	}
	wantSubjects := []string{"js-address", "js-auto-value", "js-jaddress", "js-jpeople-value", "js-json-auto-value", "js-json-value", "js-orders-value",
		"js-people-value", "js-proto-text-value", "js-proto-value", "js-users-value", "my_protobuf.proto"}
	if !reflect.DeepEqual(res.Subjects, wantSubjects) {
		t.Errorf("subjects %v, want %v", res.Subjects, wantSubjects)
	}

	// A Go reader (codec's Serde) decodes what the JS serializer wrote.
	framed, err := hex.DecodeString("0000000001" + au.PayloadHex)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeTutorialUser(t, url, framed); got != (tutorialUser{"John", "Doe", 30}) {
		t.Errorf("Go Serde decoded the JS record as %+v", got)
	}
}

func TestRegistryKafkaJS(t *testing.T) {
	node, dir := npmClients(t)
	_, url := startRegistryServer(t, "")
	out := run(t, ctxT(t, 120*time.Second), "", node, filepath.Join(dir, "kafkajs.js"), url)
	type errInfo struct {
		Name    string
		Status  int
		Message string
	}
	var res struct {
		AvroID            int            `json:"avro_id"`
		LatestID          int            `json:"latest_id"`
		Version1ID        int            `json:"version1_id"`
		IDBySchema        int            `json:"id_by_schema"`
		AvroEncodedHex    string         `json:"avro_encoded_hex"`
		AvroDecoded       map[string]any `json:"avro_decoded"`
		IncompatibleError *errInfo       `json:"incompatible_error"`
		LevelMismatch     *errInfo       `json:"level_mismatch_error"`
		AvroIDv2          int            `json:"avro_id_v2"`
		LatestIDv2        int            `json:"latest_id_v2"`
		AvroDecodedV2     map[string]any `json:"avro_decoded_v2"`
		AvroDecodedV1AsV2 map[string]any `json:"avro_decoded_v1_as_v2"`
		MissingIDError    *errInfo       `json:"missing_id_error"`
		Protobuf          struct {
			ID      int
			Hex     string
			Decoded map[string]any
		}
		JSON struct {
			ID      int
			Payload string
			Decoded map[string]any
		}
		JSONInvalidError *errInfo `json:"json_invalid_error"`
		References       struct {
			AvroID       int            `json:"avro_id"`
			AvroHex      string         `json:"avro_hex"`
			AvroDecoded  map[string]any `json:"avro_decoded"`
			ProtoID      int            `json:"proto_id"`
			ProtoHex     string         `json:"proto_hex"`
			ProtoDecoded map[string]any `json:"proto_decoded"`
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	user := map[string]any{"first_name": "John", "last_name": "Doe", "age": float64(30)}
	if res.AvroID != 1 || res.LatestID != 1 || res.Version1ID != 1 || res.IDBySchema != 1 {
		t.Errorf("ids: %s", out)
	}
	if res.AvroEncodedHex != "0000000001084a6f686e06446f653c" || !reflect.DeepEqual(res.AvroDecoded, user) {
		t.Errorf("avro encode %s decode %v", res.AvroEncodedHex, res.AvroDecoded)
	}
	// The client set the subject's level on its first registration.
	var cfg struct{ CompatibilityLevel string }
	if st := getJSON(t, &http.Client{}, url+"/config/kjs-users-value", &cfg); st != 200 || cfg.CompatibilityLevel != "BACKWARD" {
		t.Errorf("subject config after register: %d %+v", st, cfg)
	}
	if e := res.IncompatibleError; e == nil || e.Status != 409 || e.Name != "ResponseError" {
		t.Errorf("incompatible registration: %+v", e)
	}
	if e := res.LevelMismatch; e == nil || e.Name != "ConfluentSchemaRegistryCompatibilityError" {
		t.Errorf("level mismatch: %+v", e)
	}
	if res.AvroIDv2 != 2 || res.LatestIDv2 != 2 {
		t.Errorf("v2: id %d latest %d", res.AvroIDv2, res.LatestIDv2)
	}
	if want := map[string]any{"first_name": "John", "last_name": "Doe", "age": float64(30), "email": "john@example.com"}; !reflect.DeepEqual(res.AvroDecodedV2, want) {
		t.Errorf("v2 decoded %v", res.AvroDecodedV2)
	}
	if want := map[string]any{"first_name": "John", "last_name": "Doe", "age": float64(30), "email": nil}; !reflect.DeepEqual(res.AvroDecodedV1AsV2, want) {
		t.Errorf("v1 read as v2 %v", res.AvroDecodedV1AsV2)
	}
	if e := res.MissingIDError; e == nil || e.Status != 404 {
		t.Errorf("missing id: %+v", e)
	}
	// kafkajs frames Protobuf without Confluent's message-index array (its
	// own decoder expects that); the round trip is through its own client.
	if res.Protobuf.ID != 3 || res.Protobuf.Hex != "0000000003080112084a6f686e20446f65181e" ||
		!reflect.DeepEqual(res.Protobuf.Decoded, map[string]any{"id": float64(1), "name": "John Doe", "age": float64(30)}) {
		t.Errorf("protobuf: %+v", res.Protobuf)
	}
	if res.JSON.ID != 4 || res.JSON.Payload != `{"item":"tea","qty":3}` || !reflect.DeepEqual(res.JSON.Decoded, map[string]any{"item": "tea", "qty": float64(3)}) {
		t.Errorf("json: %+v", res.JSON)
	}
	if e := res.JSONInvalidError; e == nil || e.Name != "ConfluentSchemaRegistryValidationError" {
		t.Errorf("json invalid: %+v", e)
	}

	// References (Avro by name, Protobuf by import), resolved on decode by
	// a client that has not seen them.
	rf := res.References
	if rf.AvroID != 6 || rf.AvroHex != "000000000606426f6208526f6d65" || !reflect.DeepEqual(rf.AvroDecoded, map[string]any{"name": "Bob", "home": map[string]any{"city": "Rome"}}) {
		t.Errorf("avro reference: %+v", rf)
	}
	if rf.ProtoID != 8 || rf.ProtoHex != "000000000808051202080c" || !reflect.DeepEqual(rf.ProtoDecoded, map[string]any{"id": "5", "total": map[string]any{"units": "12"}}) {
		t.Errorf("protobuf import: %+v", rf)
	}

	// codec's Serde decodes the kafkajs-encoded record.
	framed, err := hex.DecodeString(res.AvroEncodedHex)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeTutorialUser(t, url, framed); got != (tutorialUser{"John", "Doe", 30}) {
		t.Errorf("Go Serde decoded the kafkajs record as %+v", got)
	}
}
