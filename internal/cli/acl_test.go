package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/internal/broker"
)

// startSluiceACL runs a broker with the ACL authorizer; the CLI connects
// without SASL, as User:ANONYMOUS, which is made a super user.
func startSluiceACL(t *testing.T) cluster {
	t.Helper()
	b, err := broker.New(broker.Config{
		Listen:  "127.0.0.1:0",
		DataDir: t.TempDir(),
		Logger:  slog.New(slog.DiscardHandler),
		Kafka:   map[string]string{"super.users": "User:ANONYMOUS"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		b.Close()
		<-done
	})
	return cluster{t: t, addr: b.Addr().String()}
}

func TestACLCommands(t *testing.T) {
	c := startSluiceACL(t)
	r := c.ok("", "acl", "create", "--allow-principal", "User:alice", "--operation", "read", "--operation", "Describe", "--topic", "orders")
	if strings.Count(r.stdout, "created ACL:") != 2 || !strings.Contains(r.stdout, "ALLOW User:alice TOPIC:LITERAL:orders from *: READ") {
		t.Errorf("create: %q", r.stdout)
	}
	c.ok("", "acl", "create", "--deny-principal", "User:bob", "--operation", "all", "--topic", "secret-", "--resource-pattern-type", "prefixed", "--host", "10.0.0.9")
	c.ok("", "acl", "create", "--allow-principal", "User:app", "--operation", "read", "--group", "app")
	c.ok("", "acl", "create", "--allow-principal", "User:ops", "--operation", "alter", "--cluster")

	r = c.ok("", "acl", "list")
	want := "RESOURCE-TYPE  NAME           PATTERN   PRINCIPAL   HOST      OPERATION  PERMISSION\n" +
		"CLUSTER        kafka-cluster  LITERAL   User:ops    *         ALTER      ALLOW\n" +
		"GROUP          app            LITERAL   User:app    *         READ       ALLOW\n" +
		"TOPIC          orders         LITERAL   User:alice  *         DESCRIBE   ALLOW\n" +
		"TOPIC          orders         LITERAL   User:alice  *         READ       ALLOW\n" +
		"TOPIC          secret-        PREFIXED  User:bob    10.0.0.9  ALL        DENY\n"
	if r.stdout != want {
		t.Errorf("list:\n%s\nwant:\n%s", r.stdout, want)
	}
	var rows []aclRow
	r = c.ok("", "acl", "list", "--topic", "secret-data", "--resource-pattern-type", "match", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Principal != "User:bob" || rows[0].Permission != "DENY" {
		t.Errorf("list match: %v %s", err, r.stdout)
	}
	r = c.ok("", "acl", "list", "--principal", "User:alice", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 {
		t.Errorf("list principal: %v %s", err, r.stdout)
	}

	r = c.ok("", "acl", "delete", "--allow-principal", "User:alice", "--topic", "orders", "--operation", "read")
	if !strings.HasSuffix(r.stdout, "deleted 1 ACL\n") {
		t.Errorf("delete: %q", r.stdout)
	}
	r = c.ok("", "acl", "delete", "--principal", "User:bob", "--resource-pattern-type", "any")
	if !strings.HasSuffix(r.stdout, "deleted 1 ACL\n") {
		t.Errorf("delete by principal: %q", r.stdout)
	}
	r = c.ok("", "acl", "delete", "--all")
	if !strings.HasSuffix(r.stdout, "deleted 3 ACLs\n") {
		t.Errorf("delete --all: %q", r.stdout)
	}
	if r = c.ok("", "acl", "list"); strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("list after delete: %q", r.stdout)
	}

	c.fails(2, "", []string{"acl", "create", "--operation", "read", "--topic", "t"}, "--allow-principal")
	c.fails(2, "", []string{"acl", "create", "--allow-principal", "alice", "--operation", "read", "--topic", "t"}, "TYPE:NAME")
	c.fails(2, "", []string{"acl", "create", "--allow-principal", "User:a", "--operation", "fly", "--topic", "t"}, "unknown operation")
	c.fails(2, "", []string{"acl", "create", "--allow-principal", "User:a", "--operation", "read", "--topic", "t", "--resource-pattern-type", "match"}, "literal or prefixed")
	c.fails(2, "", []string{"acl", "delete"}, "--all")
	c.fails(1, "", []string{"acl", "create", "--allow-principal", "User:a", "--operation", "read", "--topic", "t", "--host", "example.com"}, "INVALID_REQUEST")

	// Without an authorizer the broker says so.
	plain, _ := startSluice(t)
	plain.fails(1, "", []string{"acl", "list"}, "SECURITY_DISABLED")
}

func TestServeSuperUsersFlag(t *testing.T) {
	s, err := loadServeConfig([]string{"--super-users", "User:admin;User:ops"}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.cfg.Kafka["super.users"]; got != "User:admin;User:ops" {
		t.Fatalf("super.users = %q", got)
	}
}

func TestACLHelp(t *testing.T) {
	for _, cmd := range []string{"create", "list", "delete"} {
		r := runCLI(t, "", "acl", cmd, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Usage: sluice acl "+cmd) || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "-brokers") {
			t.Errorf("acl %s --help: %d %q", cmd, r.code, r.stdout)
		}
	}
	if r := runCLI(t, "", "help"); !strings.Contains(r.stdout, "sluice acl create|list|delete") {
		t.Error("sluice help does not list acl")
	}
}
