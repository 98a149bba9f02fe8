package cli

// sluice user: SCRAM credentials of SASL users, through the Kafka protocol
// (AlterUserScramCredentials and DescribeUserScramCredentials), so it works
// against a running Sluice or Kafka broker. The password never leaves this
// process: kadm salts it and sends the salted password, as Kafka's
// AdminClient does.

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/broker"
	"github.com/sluice-io/sluice/internal/meta"
)

const userUsage = `Usage: sluice user COMMAND [flags]

Manages the SCRAM credentials SASL clients log in with (SCRAM-SHA-256,
SCRAM-SHA-512, and PLAIN, which Sluice checks against the same credentials).

Commands:
  set NAME         create a user or change its password
  list             list users with their mechanisms and iteration counts
  delete NAME...   delete users' credentials

Examples:
  sluice user set alice --mechanism SCRAM-SHA-256 --password s3cret
  sluice user list
  sluice user delete alice

The connection flags are those of every client command, except that the
SASL password to connect with is --sasl-password (or $SLUICE_PASSWORD),
since --password is the user's new password.

Run 'sluice user COMMAND --help' for a command's flags.
`

var userFamily = &family{
	name:  "user",
	usage: userUsage,
	subs: map[string]func(context.Context, *cmdIO, []string) error{
		"set":    runUserSet,
		"list":   runUserList,
		"delete": runUserDelete,
	},
}

// newUserCommand is a client command whose connection password flag is
// --sasl-password, leaving --password to the command.
func newUserCommand(cio *cmdIO, name, usage string) *command {
	c := newCommand(cio, name, usage, true)
	conn := flag.NewFlagSet(name, flag.ContinueOnError)
	c.conn.VisitAll(func(f *flag.Flag) {
		if f.Name == "password" {
			conn.Var(f.Value, "sasl-password", "SASL password to connect with (default $SLUICE_PASSWORD)")
			return
		}
		conn.Var(f.Value, f.Name, f.Usage)
	})
	c.conn = conn
	return c
}

// scramMechanisms parses a comma-separated list of SCRAM mechanisms.
func scramMechanisms(s string) ([]kadm.ScramMechanism, error) {
	var out []kadm.ScramMechanism
	for _, m := range strings.Split(s, ",") {
		switch strings.ToUpper(strings.TrimSpace(m)) {
		case "SCRAM-SHA-256":
			out = append(out, kadm.ScramSha256)
		case "SCRAM-SHA-512":
			out = append(out, kadm.ScramSha512)
		default:
			return nil, usagef("--mechanism %q: want SCRAM-SHA-256, SCRAM-SHA-512 or both, comma-separated", s)
		}
	}
	return out, nil
}

const userSetUsage = `Usage: sluice user set NAME --password PASSWORD [flags]

Creates user NAME or changes its password, for each --mechanism. The broker
stores a salted, iterated credential, never the password.

With --data-dir the credential is written into a stopped broker's data
directory instead (the first user of a broker whose listeners all need SASL,
like kafka-storage format --add-scram); with --etcd, into a cluster-mode
cluster's etcd, where its brokers keep their users (running brokers pick
it up at once).

Examples:
  sluice user set alice --mechanism SCRAM-SHA-256 --password s3cret
  sluice user set admin --password s3cret --data-dir /var/lib/sluice
  sluice user set admin --password s3cret --etcd http://etcd:2379 --cluster-id prod
  sluice user set bob --password s3cret --iterations 8192 --brokers kafka:9093 \
      --tls-ca ca.pem --sasl-mechanism SCRAM-SHA-512 --user admin --sasl-password admin-pw

Flags:
`

func runUserSet(ctx context.Context, cio *cmdIO, args []string) error {
	c := newUserCommand(cio, "user set", userSetUsage)
	mech := c.own.String("mechanism", "SCRAM-SHA-256,SCRAM-SHA-512", "SCRAM `MECHANISMS` to set, comma-separated")
	password := c.own.String("password", "", "the user's new password (default $SLUICE_USER_PASSWORD)")
	iters := c.own.Int("iterations", 4096, "PBKDF2 iterations, 4096-16384")
	offline := c.own.String("data-dir", "", "write the credential into the stopped broker's data `DIR` instead of connecting (the first user of a SASL-only broker)")
	etcd := c.own.String("etcd", "", "write the credential into cluster mode's etcd `ENDPOINTS` (http://HOST:PORT,...) instead of connecting (the first user of a SASL-only cluster; running brokers pick it up)")
	clusterID := c.own.String("cluster-id", "", "with --etcd: the cluster `ID` (default: the only cluster in the etcd, else "+broker.DefaultClusterID+")")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one user NAME (run 'sluice user set --help')")
	}
	mechs, err := scramMechanisms(*mech)
	if err != nil {
		return err
	}
	if *password == "" {
		*password = cio.getenv("SLUICE_USER_PASSWORD")
	}
	if *password == "" {
		return usagef("--password is required (or $SLUICE_USER_PASSWORD)")
	}
	if *iters < 4096 || *iters > 16384 {
		return usagef("--iterations %d: want 4096-16384", *iters)
	}
	switch {
	case *offline != "" && *etcd != "":
		return usagef("--data-dir and --etcd exclude each other")
	case *clusterID != "" && *etcd == "":
		return usagef("--cluster-id needs --etcd")
	case *offline != "":
		return setUserOffline(c, *offline, pos[0], *password, int32(*iters), mechs)
	case *etcd != "":
		return setUserEtcd(ctx, c, *etcd, *clusterID, pos[0], *password, int32(*iters), mechs) // useretcd.go
	}
	var ups []kadm.UpsertSCRAM
	for _, m := range mechs {
		ups = append(ups, kadm.UpsertSCRAM{User: pos[0], Mechanism: m, Iterations: int32(*iters), Password: *password})
	}
	return alterUsers(ctx, c, nil, ups, "set")
}

// setUserOffline stores a credential in <dir>/credentials.json directly,
// as Kafka's "kafka-storage format --add-scram" does: for the first user of
// a broker whose listeners all require SASL. The broker must be stopped
// (it reads the file at start-up, and would overwrite the change).
func setUserOffline(c *command, dir, user, password string, iters int32, mechs []kadm.ScramMechanism) error {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return fmt.Errorf("--data-dir %s: not a directory", dir)
	}
	creds, err := meta.OpenCredentials(nil, dir, nil)
	if err != nil {
		return err
	}
	changes, err := credentialChanges(user, password, iters, mechs)
	if err != nil {
		return err
	}
	if _, err := creds.Alter(changes); err != nil {
		return err
	}
	fmt.Fprintf(c.io.stdout, "set user %s\n", user)
	return nil
}

func alterUsers(ctx context.Context, c *command, dels []kadm.DeleteSCRAM, ups []kadm.UpsertSCRAM, verb string) error {
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	res, err := adm.AlterUserSCRAMs(rctx, dels, ups)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	var failed []string
	for _, r := range res.Sorted() {
		switch {
		case errors.Is(r.Err, kerr.ResourceNotFound):
			failed = append(failed, fmt.Sprintf("user %q has no such credential", r.User))
		case r.Err != nil:
			failed = append(failed, fmt.Sprintf("user %q: %v", r.User, describeErr(r.Err, r.ErrMessage)))
		default:
			fmt.Fprintf(c.io.stdout, "%s user %s\n", verb, r.User)
		}
	}
	return multiErr(c.io, "user "+strings.Fields(c.name)[1], failed)
}

const userListUsage = `Usage: sluice user list [flags]

Lists users as a table of USER, MECHANISM and ITERATIONS, or as JSON.

Examples:
  sluice user list
  sluice user list --format json

Flags:
`

type userCredential struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Iterations int32  `json:"iterations"`
}

func runUserList(ctx context.Context, cio *cmdIO, args []string) error {
	c := newUserCommand(cio, "user list", userListUsage)
	asJSON := addFormatFlag(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	users, err := describeUsers(ctx, c, pos)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(cio.stdout, users)
	}
	t := newTable(cio.stdout, "USER", "MECHANISM", "ITERATIONS")
	for _, u := range users {
		t.row(u.User, u.Mechanism, u.Iterations)
	}
	return t.flush()
}

func describeUsers(ctx context.Context, c *command, names []string) ([]userCredential, error) {
	adm, err := c.cf.admin(ctx)
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	rctx, cancel := c.cf.requestCtx(ctx)
	defer cancel()
	d, err := adm.DescribeUserSCRAMs(rctx, names...)
	if err != nil {
		return nil, requestErr(ctx, c.cf, err)
	}
	users := []userCredential{}
	for _, u := range d.Sorted() {
		if errors.Is(u.Err, kerr.ResourceNotFound) {
			return nil, fmt.Errorf("user %q does not exist", u.User)
		}
		if u.Err != nil {
			return nil, fmt.Errorf("user %q: %w", u.User, describeErr(u.Err, u.ErrMessage))
		}
		for _, ci := range u.CredInfos {
			users = append(users, userCredential{User: u.User, Mechanism: ci.Mechanism.String(), Iterations: ci.Iterations})
		}
	}
	slices.SortFunc(users, func(a, b userCredential) int {
		return strings.Compare(a.User+"\x00"+a.Mechanism, b.User+"\x00"+b.Mechanism)
	})
	return users, nil
}

const userDeleteUsage = `Usage: sluice user delete NAME... [flags]

Deletes the users' credentials: all of them, or those of --mechanism.

Examples:
  sluice user delete alice
  sluice user delete alice --mechanism SCRAM-SHA-512

Flags:
`

func runUserDelete(ctx context.Context, cio *cmdIO, args []string) error {
	c := newUserCommand(cio, "user delete", userDeleteUsage)
	mech := c.own.String("mechanism", "", "delete only these SCRAM `MECHANISMS` (default: every one the user has)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want at least one user NAME (run 'sluice user delete --help')")
	}
	var dels []kadm.DeleteSCRAM
	if *mech != "" {
		mechs, err := scramMechanisms(*mech)
		if err != nil {
			return err
		}
		for _, u := range pos {
			for _, m := range mechs {
				dels = append(dels, kadm.DeleteSCRAM{User: u, Mechanism: m})
			}
		}
	} else {
		users, err := describeUsers(ctx, c, pos)
		if err != nil {
			return err
		}
		for _, u := range users {
			m, _ := scramMechanisms(u.Mechanism)
			dels = append(dels, kadm.DeleteSCRAM{User: u.User, Mechanism: m[0]})
		}
	}
	return alterUsers(ctx, c, dels, nil, "deleted")
}

// credentialChanges are the upserts of user's credentials for mechs,
// salted here: only the salt, the iteration count, StoredKey and
// ServerKey are stored.
func credentialChanges(user, password string, iters int32, mechs []kadm.ScramMechanism) ([]meta.CredentialChange, error) {
	var changes []meta.CredentialChange
	for _, km := range mechs {
		m, _ := auth.ScramMechanismByName(km.String())
		salt := make([]byte, 24)
		rand.Read(salt)
		sp, err := m.SaltedPassword(password, salt, int(iters))
		if err != nil {
			return nil, err
		}
		cr := m.Credential(salt, sp, iters)
		changes = append(changes, meta.CredentialChange{User: user, Mechanism: m.Name,
			Cred: meta.ScramCredential{Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}})
	}
	return changes, nil
}
