package meta

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/vfs"
)

func TestCredentialsPersistAtomically(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCredentials(nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred := ScramCredential{Salt: []byte("salt"), StoredKey: []byte("stored"), ServerKey: []byte("server"), Iterations: 4096}
	errs, err := c.Alter([]CredentialChange{
		{User: "alice", Mechanism: "SCRAM-SHA-256", Cred: cred},
		{User: "alice", Mechanism: "SCRAM-SHA-512", Cred: cred},
		{User: "bob", Mechanism: "SCRAM-SHA-256", Delete: true},
	})
	if err != nil || errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], ErrNoCredential) {
		t.Fatalf("alter: %v %v", errs, err)
	}
	os.WriteFile(filepath.Join(dir, credFileName+vfs.TempSuffix+"-123"), []byte("partial"), 0o600)
	c2, err := OpenCredentials(nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c2.Get("alice", "SCRAM-SHA-512"); !ok || string(got.StoredKey) != "stored" || got.Iterations != 4096 {
		t.Fatalf("after reopen: %+v %v", got, ok)
	}
	if _, err := os.Stat(filepath.Join(dir, credFileName+vfs.TempSuffix+"-123")); !os.IsNotExist(err) {
		t.Error("temporary file left behind")
	}
	if names := c2.UserNames(); len(names) != 1 || names[0] != "alice" {
		t.Errorf("users %v", names)
	}
	if _, err := c2.Alter([]CredentialChange{{User: "alice", Mechanism: "SCRAM-SHA-256", Delete: true}, {User: "alice", Mechanism: "SCRAM-SHA-512", Delete: true}}); err != nil {
		t.Fatal(err)
	}
	if u := c2.Users(); len(u) != 0 {
		t.Errorf("after deleting every credential: %v", u)
	}
	st, _ := os.Stat(filepath.Join(dir, credFileName))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

func TestCredentialsCorruptFileStopsStartup(t *testing.T) {
	dir := t.TempDir()
	c, _ := OpenCredentials(nil, dir, nil)
	c.Alter([]CredentialChange{{User: "alice", Mechanism: "SCRAM-SHA-256", Cred: ScramCredential{Salt: []byte("s"), StoredKey: []byte("k"), ServerKey: []byte("k"), Iterations: 4096}}})
	path := filepath.Join(dir, credFileName)
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), "alice", "alicf", 1)), 0o600)
	if _, err := OpenCredentials(nil, dir, nil); !errors.Is(err, ErrCorruptMetadata) || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("corrupt file: %v", err)
	}
}
