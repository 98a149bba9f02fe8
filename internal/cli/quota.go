package cli

// sluice quota: client quotas (producer_byte_rate, consumer_byte_rate,
// request_percentage, controller_mutation_rate) of users and client ids,
// through the Kafka protocol (DescribeClientQuotas and AlterClientQuotas),
// so it works against a running Sluice or Kafka broker.

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/twmb/franz-go/pkg/kadm"
)

const quotaUsage = `Usage: sluice quota COMMAND [flags]

Manages client quotas: byte rates and request time of users (the SASL or
certificate principal name) and client ids, or their defaults. The most
specific quota applies, as in Kafka: user and client id, then user (with the
default client id, then alone), then the default user (likewise), then the
client id, then the default client id.

Commands:
  describe   list quotas, optionally only those of a user or client id
  alter      set or remove quotas of one entity

Examples:
  sluice quota alter --user alice --client-id app --set producer_byte_rate=1048576
  sluice quota alter --user-default --set consumer_byte_rate=10485760,request_percentage=50
  sluice quota alter --client-id app --delete producer_byte_rate
  sluice quota describe --user alice

The connection flags are those of every client command, except that the
SASL user to connect as is --sasl-user and the client id this command
sends is --connect-client-id, since --user and --client-id name the quota's
entity.

Run 'sluice quota COMMAND --help' for a command's flags.
`

var quotaFamily = &family{
	name:  "quota",
	usage: quotaUsage,
	subs: map[string]func(context.Context, *cmdIO, []string) error{
		"describe": runQuotaDescribe,
		"alter":    runQuotaAlter,
	},
}

// newQuotaCommand is a client command whose connection flags --user and
// --client-id are --sasl-user and --connect-client-id, leaving --user and
// --client-id to the quota entity.
func newQuotaCommand(cio *cmdIO, name, usage string) *command {
	c := newCommand(cio, name, usage, true)
	conn := flag.NewFlagSet(name, flag.ContinueOnError)
	c.conn.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "user":
			conn.Var(f.Value, "sasl-user", "SASL user name to connect as")
			return
		case "client-id":
			conn.Var(f.Value, "connect-client-id", "client id this command sends to the brokers")
			return
		}
		conn.Var(f.Value, f.Name, f.Usage)
	})
	c.conn = conn
	return c
}

// quotaEntityFlags are --user, --user-default, --client-id and
// --client-id-default.
type quotaEntityFlags struct {
	user, clientID             optString
	userDefault, clientDefault *bool
}

// optString is a string flag that knows whether it was given (the empty
// client id is a name).
type optString struct {
	set bool
	v   string
}

func (o *optString) String() string     { return o.v }
func (o *optString) Set(v string) error { o.set, o.v = true, v; return nil }

func addQuotaEntityFlags(c *command) *quotaEntityFlags {
	f := &quotaEntityFlags{}
	c.own.Var(&f.user, "user", "the user `NAME` (principal name)")
	f.userDefault = c.own.Bool("user-default", false, "the default user")
	c.own.Var(&f.clientID, "client-id", "the client `ID`")
	f.clientDefault = c.own.Bool("client-id-default", false, "the default client id")
	return f
}

// entity builds the entity to alter; at least one component is required.
func (f *quotaEntityFlags) entity() (kadm.ClientQuotaEntity, error) {
	if f.user.set && *f.userDefault || f.clientID.set && *f.clientDefault {
		return nil, usagef("give a name or the default, not both")
	}
	var e kadm.ClientQuotaEntity
	switch {
	case f.user.set:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "user", Name: &f.user.v})
	case *f.userDefault:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "user"})
	}
	switch {
	case f.clientID.set:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "client-id", Name: &f.clientID.v})
	case *f.clientDefault:
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "client-id"})
	}
	if len(e) == 0 {
		return nil, usagef("name the entity: --user, --user-default, --client-id and/or --client-id-default")
	}
	return e, nil
}

// filter builds the describe filter: a component per flag given.
func (f *quotaEntityFlags) filter() ([]kadm.DescribeClientQuotaComponent, error) {
	if f.user.set && *f.userDefault || f.clientID.set && *f.clientDefault {
		return nil, usagef("give a name or the default, not both")
	}
	var comps []kadm.DescribeClientQuotaComponent
	switch {
	case f.user.set:
		comps = append(comps, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: &f.user.v, MatchType: 0})
	case *f.userDefault:
		comps = append(comps, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: 1})
	}
	switch {
	case f.clientID.set:
		comps = append(comps, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchName: &f.clientID.v, MatchType: 0})
	case *f.clientDefault:
		comps = append(comps, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 1})
	}
	return comps, nil
}

const quotaDescribeUsage = `Usage: sluice quota describe [flags]

Lists quotas as a table of ENTITY, KEY and VALUE, or as JSON. Without
entity flags every quota is listed; with them, the entities that have those
components (and others, unless --strict).

Examples:
  sluice quota describe
  sluice quota describe --user alice
  sluice quota describe --client-id-default --strict --format json

Flags:
`

type describedQuota struct {
	Entity map[string]*string `json:"entity"` // type -> name, null for the default
	Values map[string]float64 `json:"values"`
}

func runQuotaDescribe(ctx context.Context, cio *cmdIO, args []string) error {
	c := newQuotaCommand(cio, "quota describe", quotaDescribeUsage)
	ef := addQuotaEntityFlags(c)
	strict := c.own.Bool("strict", false, "only entities with exactly the components given")
	asJSON := addFormatFlag(c)
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q (run 'sluice quota describe --help')", pos[0])
	}
	comps, err := ef.filter()
	if err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	qs, err := adm.DescribeClientQuotas(rctx, *strict, comps)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].Entity.String() < qs[j].Entity.String() })
	if *asJSON {
		out := []describedQuota{}
		for _, q := range qs {
			d := describedQuota{Entity: map[string]*string{}, Values: map[string]float64{}}
			for _, e := range q.Entity {
				d.Entity[e.Type] = e.Name
			}
			for _, v := range q.Values {
				d.Values[v.Key] = v.Value
			}
			out = append(out, d)
		}
		return writeJSON(cio.stdout, out)
	}
	t := newTable(cio.stdout, "ENTITY", "KEY", "VALUE")
	for _, q := range qs {
		vals := append([]kadm.ClientQuotaValue(nil), q.Values...)
		sort.Slice(vals, func(i, j int) bool { return vals[i].Key < vals[j].Key })
		for _, v := range vals {
			t.row(q.Entity.String(), v.Key, strconv.FormatFloat(v.Value, 'f', -1, 64))
		}
	}
	return t.flush()
}

const quotaAlterUsage = `Usage: sluice quota alter ENTITY --set KEY=VALUE[,...] | --delete KEY[,...] [flags]

Sets or removes quotas of one entity: --user NAME or --user-default, and/or
--client-id ID or --client-id-default. Keys: producer_byte_rate and
consumer_byte_rate (bytes per second), request_percentage (percent of one
core's time), controller_mutation_rate (stored; Sluice does not enforce it).

Examples:
  sluice quota alter --user alice --client-id app --set producer_byte_rate=1048576
  sluice quota alter --client-id-default --set consumer_byte_rate=10485760
  sluice quota alter --user alice --delete producer_byte_rate,request_percentage
  sluice quota alter --user-default --set request_percentage=25 --validate-only

Flags:
`

func runQuotaAlter(ctx context.Context, cio *cmdIO, args []string) error {
	c := newQuotaCommand(cio, "quota alter", quotaAlterUsage)
	ef := addQuotaEntityFlags(c)
	var sets, dels cmdline.MultiFlag
	c.own.Var(&sets, "set", "`KEY=VALUE` quotas to set, comma-separated (repeatable)")
	c.own.Var(&dels, "delete", "`KEY` quotas to remove, comma-separated (repeatable)")
	validate := c.own.Bool("validate-only", false, "have the broker validate the change without making it")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("unexpected argument %q (run 'sluice quota alter --help')", pos[0])
	}
	entity, err := ef.entity()
	if err != nil {
		return err
	}
	var ops []kadm.AlterClientQuotaOp
	for _, s := range sets {
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || k == "" {
				return usagef("--set %q: want KEY=VALUE", kv)
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return usagef("--set %s: %q is not a number", k, v)
			}
			ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: f})
		}
	}
	for _, s := range dels {
		for _, k := range strings.Split(s, ",") {
			if k = strings.TrimSpace(k); k == "" {
				return usagef("--delete: empty key")
			}
			ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
		}
	}
	if len(ops) == 0 {
		return usagef("nothing to do: give --set or --delete")
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	entries := []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: ops}}
	alter := adm.AlterClientQuotas
	if *validate {
		alter = adm.ValidateAlterClientQuotas
	}
	res, err := alter(rctx, entries)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("quota %s: %w", r.Entity, describeErr(r.Err, r.ErrMessage))
		}
	}
	verb := "altered"
	if *validate {
		verb = "validated"
	}
	fmt.Fprintf(cio.stdout, "%s quotas of %s\n", verb, entity)
	return nil
}
