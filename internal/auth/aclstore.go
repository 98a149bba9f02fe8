package auth

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sluice-io/sluice/internal/envelope"

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
	return envelope.Encode(aclFileVersion, p)
}

func decodeACLs(data []byte) ([]ACL, error) {
	var p aclPayload
	if err := envelope.Decode(data, aclFileVersion, &p); err != nil {
		return nil, err
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
