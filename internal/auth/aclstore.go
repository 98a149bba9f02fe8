package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sluice-io/sluice/internal/vfs"
)

// On-disk format of <data dir>/acls.json (version 1), written atomically
// (temp file, fsync, rename, directory fsync; vfs.WriteFileAtomic) on every
// CreateAcls and DeleteAcls that changes something, before the change is
// visible to Authorize or acknowledged:
//
//	{"version":1,"crc32c":<uint32>,"payload":<payload>}\n
//
// crc32c is the CRC-32C (Castagnoli) of the payload's exact bytes, as in
// meta.json. The payload lists the ACLs in creation order, with Kafka's
// enum names:
//
//	{"acls": [
//	  {"resource_type": "TOPIC", "resource_name": "orders",
//	   "pattern_type": "PREFIXED", "principal": "User:alice", "host": "*",
//	   "operation": "READ", "permission": "ALLOW"}
//	]}
//
// A missing file is no ACLs. An unknown version, a checksum mismatch,
// unknown fields, trailing data or an ACL that fails ACL.Validate make the
// file corrupt: start-up stops with the file named and nothing is reset.
// acls.json.tmp is the leftover of an interrupted write and is ignored
// (the next write replaces it).
const (
	aclFileName    = "acls.json"
	aclFileVersion = 1
)

// ErrCorruptACLs marks an ACL file that cannot be trusted.
var ErrCorruptACLs = errors.New("corrupt ACL file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type aclEnvelope struct {
	Version *int            `json:"version"`
	CRC32C  *uint32         `json:"crc32c"`
	Payload json.RawMessage `json:"payload"`
}

type aclPayload struct {
	ACLs []aclRecord `json:"acls"`
}

type aclRecord struct {
	ResourceType string `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  string `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    string `json:"operation"`
	Permission   string `json:"permission"`
}

// aclFile reads and writes one ACL file.
type aclFile struct {
	fs   vfs.FS
	path string
}

func encodeACLs(acls []ACL) ([]byte, error) {
	p := aclPayload{ACLs: make([]aclRecord, 0, len(acls))}
	for _, a := range acls {
		p.ACLs = append(p.ACLs, aclRecord{
			ResourceType: a.ResourceType.String(), ResourceName: a.ResourceName, PatternType: a.PatternType.String(),
			Principal: a.Principal, Host: a.Host, Operation: a.Operation.String(), Permission: a.Permission.String(),
		})
	}
	body, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(`{"version":` + strconv.Itoa(aclFileVersion) + `,"crc32c":`)
	buf.WriteString(strconv.FormatUint(uint64(crc32.Checksum(body, castagnoli)), 10))
	buf.WriteString(`,"payload":`)
	buf.Write(body)
	buf.WriteString("}\n")
	return buf.Bytes(), nil
}

func decodeACLs(data []byte) ([]ACL, error) {
	var env aclEnvelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the envelope")
	}
	switch {
	case env.Version == nil || env.CRC32C == nil || env.Payload == nil:
		return nil, errors.New("envelope lacks version, crc32c or payload")
	case *env.Version != aclFileVersion:
		return nil, fmt.Errorf("unknown version %d", *env.Version)
	case crc32.Checksum(env.Payload, castagnoli) != *env.CRC32C:
		return nil, fmt.Errorf("checksum mismatch (stored %d, computed %d)", *env.CRC32C, crc32.Checksum(env.Payload, castagnoli))
	}
	var p aclPayload
	dec = json.NewDecoder(bytes.NewReader(env.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	acls := make([]ACL, 0, len(p.ACLs))
	seen := map[ACL]bool{}
	for i, r := range p.ACLs {
		var a ACL
		var ok [4]bool
		a.ResourceType, ok[0] = parseEnum(resourceTypeNames, r.ResourceType)
		a.PatternType, ok[1] = parseEnum(patternNames, r.PatternType)
		a.Operation, ok[2] = parseEnum(operationNames, r.Operation)
		a.Permission, ok[3] = parseEnum(permissionNames, r.Permission)
		a.ResourceName, a.Principal, a.Host = r.ResourceName, r.Principal, r.Host
		if ok != [4]bool{true, true, true, true} {
			return nil, fmt.Errorf("acl %d: unknown enum name in %+v", i, r)
		}
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("acl %d %s: %v", i, a, err)
		}
		if seen[a] {
			return nil, fmt.Errorf("acl %d %s: duplicate", i, a)
		}
		seen[a] = true
		acls = append(acls, a)
	}
	return acls, nil
}

// load reads the file; a missing file is no ACLs.
func (f *aclFile) load() ([]ACL, error) {
	h, err := f.fs.OpenFile(f.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", f.path, err)
	}
	defer h.Close()
	data, err := io.ReadAll(h)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.path, err)
	}
	acls, err := decodeACLs(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (refusing to start: restore the file from a backup, or move it away to start with no ACLs)", ErrCorruptACLs, f.path, err)
	}
	return acls, nil
}

func (f *aclFile) save(acls []ACL) error {
	data, err := encodeACLs(acls)
	if err != nil {
		return fmt.Errorf("encoding ACLs: %w", err)
	}
	if err := vfs.WriteFileAtomic(f.fs, f.path, data, 0o600); err != nil {
		return fmt.Errorf("writing ACLs %s: %w", f.path, err)
	}
	return nil
}

func newACLFile(fsys vfs.FS, dir string) *aclFile {
	return &aclFile{fs: fsys, path: filepath.Join(dir, aclFileName)}
}
