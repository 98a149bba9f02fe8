package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/sluice-io/sluice/internal/cmdline"
	"github.com/sluice-io/sluice/internal/meta"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const topicUsage = `Usage: sluice topic COMMAND [flags]

Creates, lists, describes, reconfigures and deletes topics on Sluice or any
Kafka cluster.

Commands:
  create NAME          create a topic
  list                 list topics with their partition and replica counts
  describe NAME        partitions (leader, replicas, ISR, offsets) and configs
  alter-config NAME    set or delete topic configs (incrementally)
  delete NAME...       delete topics

Examples:
  sluice topic create orders --partitions 3
  sluice topic list --format json
  sluice topic describe orders
  sluice topic alter-config orders --set retention.ms=86400000
  sluice topic delete orders

Run 'sluice topic COMMAND --help' for a command's flags.
`

var topicFamily = &family{
	name:  "topic",
	usage: topicUsage,
	subs: map[string]func(context.Context, *cmdIO, []string) error{
		"create":       runTopicCreate,
		"list":         runTopicList,
		"describe":     runTopicDescribe,
		"alter-config": runTopicAlterConfig,
		"delete":       runTopicDelete,
	},
}

const topicCreateUsage = `Usage: sluice topic create NAME [flags]

Creates topic NAME. Partitions and replication factor default to the
broker's (num.partitions, default.replication.factor). It fails if the
topic exists, unless --if-not-exists.

Examples:
  sluice topic create orders
  sluice topic create orders --partitions 6 --config retention.ms=3600000
  sluice topic create orders --partitions 3 --replication-factor 3 --if-not-exists

Flags:
`

func runTopicCreate(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "topic create", topicCreateUsage, true)
	partitions := c.own.Int("partitions", -1, "number of partitions (-1: the broker's num.partitions)")
	rf := c.own.Int("replication-factor", -1, "replicas per partition (-1: the broker's default.replication.factor)")
	var configs cmdline.MultiFlag
	c.own.Var(&configs, "config", "topic config `NAME=VALUE` (repeatable)")
	ifNotExists := c.own.Bool("if-not-exists", false, "succeed without change when the topic exists")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	name, err := c.one(pos, "topic NAME")
	if err != nil {
		return err
	}
	if err := meta.ValidateTopicName(name); err != nil {
		return usagef("topic %q: %v", name, err)
	}
	if *partitions == 0 || *partitions < -1 || *partitions > 1<<20 {
		return usagef("--partitions %d: want a positive number, or -1 for the broker default", *partitions)
	}
	if *rf == 0 || *rf < -1 || *rf > 1<<15-1 {
		return usagef("--replication-factor %d: want a positive number, or -1 for the broker default", *rf)
	}
	kvs, err := keyValues("config", configs)
	if err != nil {
		return err
	}
	cfg := map[string]*string{}
	for _, kv := range kvs {
		cfg[kv[0]] = kadm.StringPtr(kv[1])
	}

	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	resp, err := adm.CreateTopic(rctx, int32(*partitions), int16(*rf), cfg, name)
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		if *ifNotExists {
			return nil
		}
		return fmt.Errorf("topic %q already exists", name)
	case err != nil && resp.Topic != "":
		return fmt.Errorf("topic %q: %w", name, describeErr(err, resp.ErrMessage))
	case err != nil:
		return requestErr(ctx, c.cf, err)
	}
	n := resp.NumPartitions
	if n <= 0 {
		n = int32(*partitions)
	}
	if n > 0 {
		fmt.Fprintf(cio.stdout, "created topic %s with %d partition%s\n", name, n, cmdline.Plural(int(n)))
	} else {
		fmt.Fprintf(cio.stdout, "created topic %s\n", name)
	}
	return nil
}

const topicListUsage = `Usage: sluice topic list [flags]

Lists the cluster's topics (internal ones too, unless --exclude-internal)
as a table of NAME, PARTITIONS, REPLICAS and INTERNAL, or as JSON.

Examples:
  sluice topic list
  sluice topic list --format json | jq -r '.[].name'

Flags:
`

type topicSummary struct {
	Name       string `json:"name"`
	ID         string `json:"id,omitempty"`
	Partitions int    `json:"partitions"`
	Replicas   int    `json:"replicas"`
	Internal   bool   `json:"internal"`
}

func runTopicList(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "topic list", topicListUsage, true)
	asJSON := addFormatFlag(c)
	exclInternal := c.own.Bool("exclude-internal", false, "leave out internal topics such as __consumer_offsets")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	tds, err := adm.ListTopicsWithInternal(rctx)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	out := []topicSummary{}
	for _, td := range tds.Sorted() {
		if td.Err != nil {
			return fmt.Errorf("topic %q: %w", td.Topic, td.Err)
		}
		if td.IsInternal && *exclInternal {
			continue
		}
		out = append(out, topicSummary{
			Name:       td.Topic,
			ID:         topicID(td.ID),
			Partitions: len(td.Partitions),
			Replicas:   td.Partitions.NumReplicas(),
			Internal:   td.IsInternal,
		})
	}
	if *asJSON {
		return writeJSON(cio.stdout, out)
	}
	t := newTable(cio.stdout, "NAME", "PARTITIONS", "REPLICAS", "INTERNAL")
	for _, s := range out {
		t.row(s.Name, s.Partitions, s.Replicas, s.Internal)
	}
	return t.flush()
}

// topicID prints a topic ID as Kafka's tools do (URL-safe base64), or ""
// for a zero ID.
func topicID(id kadm.TopicID) string {
	if id == (kadm.TopicID{}) {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

const topicDescribeUsage = `Usage: sluice topic describe NAME [flags]

Describes topic NAME: its partitions with leader, replicas, in-sync
replicas, log start offset and high watermark, and the configs that differ
from the defaults (with where each comes from; --all-configs lists all).

Examples:
  sluice topic describe orders
  sluice topic describe orders --format json | jq '.partitions[].high_watermark'

Flags:
`

type partitionInfo struct {
	Partition     int32   `json:"partition"`
	Leader        int32   `json:"leader"`
	Replicas      []int32 `json:"replicas"`
	ISR           []int32 `json:"isr"`
	LogStart      int64   `json:"log_start_offset"`
	HighWatermark int64   `json:"high_watermark"`
	Error         string  `json:"error,omitempty"`
}

type configInfo struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Source    string  `json:"source"`
	Sensitive bool    `json:"sensitive,omitempty"`
}

type topicInfo struct {
	Name       string          `json:"name"`
	ID         string          `json:"id,omitempty"`
	Internal   bool            `json:"internal"`
	Partitions []partitionInfo `json:"partitions"`
	Configs    []configInfo    `json:"configs"`
}

func runTopicDescribe(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "topic describe", topicDescribeUsage, true)
	asJSON := addFormatFlag(c)
	allConfigs := c.own.Bool("all-configs", false, "list every config, defaults included")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	name, err := c.one(pos, "topic NAME")
	if err != nil {
		return err
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	tds, err := adm.ListTopicsWithInternal(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	td, ok := tds[name]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %q does not exist", name)
	}
	if td.Err != nil {
		return fmt.Errorf("topic %q: %w", name, td.Err)
	}
	starts, err := adm.ListStartOffsets(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	ends, err := adm.ListEndOffsets(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	rcs, err := adm.DescribeTopicConfigs(rctx, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	rc, err := rcs.On(name, nil)
	if err == nil {
		err = describeErr(rc.Err, rc.ErrMessage)
	}
	if err != nil {
		return fmt.Errorf("configs of topic %q: %w", name, err)
	}

	info := topicInfo{Name: name, ID: topicID(td.ID), Internal: td.IsInternal, Partitions: []partitionInfo{}, Configs: []configInfo{}}
	for _, pd := range td.Partitions.Sorted() {
		pi := partitionInfo{Partition: pd.Partition, Leader: pd.Leader, Replicas: nonNil(pd.Replicas), ISR: nonNil(pd.ISR), LogStart: -1, HighWatermark: -1}
		var errs []string
		if pd.Err != nil {
			errs = append(errs, pd.Err.Error())
		}
		if lo, ok := starts.Lookup(name, pd.Partition); ok {
			if lo.Err != nil {
				errs = append(errs, "log start: "+lo.Err.Error())
			} else {
				pi.LogStart = lo.Offset
			}
		}
		if lo, ok := ends.Lookup(name, pd.Partition); ok {
			if lo.Err != nil {
				errs = append(errs, "high watermark: "+lo.Err.Error())
			} else {
				pi.HighWatermark = lo.Offset
			}
		}
		pi.Error = strings.Join(errs, "; ")
		info.Partitions = append(info.Partitions, pi)
	}
	sort.Slice(rc.Configs, func(i, j int) bool { return rc.Configs[i].Key < rc.Configs[j].Key })
	for _, cfg := range rc.Configs {
		if !*allConfigs && cfg.Source == kmsg.ConfigSourceDefaultConfig {
			continue
		}
		info.Configs = append(info.Configs, configInfo{Name: cfg.Key, Value: cfg.Value, Source: cfg.Source.String(), Sensitive: cfg.Sensitive})
	}

	if *asJSON {
		return writeJSON(cio.stdout, info)
	}
	w := cio.stdout
	fmt.Fprintf(w, "Topic:       %s\n", info.Name)
	if info.ID != "" {
		fmt.Fprintf(w, "ID:          %s\n", info.ID)
	}
	fmt.Fprintf(w, "Partitions:  %d\n", len(info.Partitions))
	fmt.Fprintf(w, "Replicas:    %d\n", td.Partitions.NumReplicas())
	fmt.Fprintf(w, "Internal:    %t\n\n", info.Internal)
	header := []string{"PARTITION", "LEADER", "REPLICAS", "ISR", "LOG-START", "HIGH-WATERMARK"}
	withErrs := slices.ContainsFunc(info.Partitions, func(p partitionInfo) bool { return p.Error != "" })
	if withErrs {
		header = append(header, "ERROR")
	}
	t := newTable(w, header...)
	for _, p := range info.Partitions {
		row := []any{p.Partition, p.Leader, joinInt32(p.Replicas), joinInt32(p.ISR), p.LogStart, p.HighWatermark}
		if withErrs {
			row = append(row, p.Error)
		}
		t.row(row...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(info.Configs) == 0 {
		fmt.Fprintln(w, "\nConfigs: all defaults")
		return nil
	}
	if *allConfigs {
		fmt.Fprintln(w, "\nConfigs:")
	} else {
		fmt.Fprintln(w, "\nConfigs (not default):")
	}
	t = newTable(w, "NAME", "VALUE", "SOURCE")
	for _, cfg := range info.Configs {
		v := "(null)"
		switch {
		case cfg.Sensitive:
			v = "(sensitive)"
		case cfg.Value != nil:
			v = *cfg.Value
		}
		t.row(cfg.Name, v, cfg.Source)
	}
	return t.flush()
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func joinInt32(s []int32) string {
	var b strings.Builder
	for i, v := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, v)
	}
	return b.String()
}

const topicAlterConfigUsage = `Usage: sluice topic alter-config NAME [flags]

Changes topic NAME's configs incrementally (IncrementalAlterConfigs):
--set overrides a config, --delete removes the override so the broker's
default applies again. Configs not named are left alone.

Examples:
  sluice topic alter-config orders --set retention.ms=86400000
  sluice topic alter-config orders --set cleanup.policy=compact --delete retention.ms

Flags:
`

func runTopicAlterConfig(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "topic alter-config", topicAlterConfigUsage, true)
	var sets, dels cmdline.MultiFlag
	c.own.Var(&sets, "set", "set config `NAME=VALUE` (repeatable)")
	c.own.Var(&dels, "delete", "remove the override of config `NAME` (repeatable)")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	name, err := c.one(pos, "topic NAME")
	if err != nil {
		return err
	}
	kvs, err := keyValues("set", sets)
	if err != nil {
		return err
	}
	if len(kvs) == 0 && len(dels) == 0 {
		return usagef("nothing to change: give --set NAME=VALUE or --delete NAME")
	}
	var alters []kadm.AlterConfig
	for _, kv := range kvs {
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: kadm.StringPtr(kv[1])})
	}
	for _, d := range dels {
		if d == "" {
			return usagef("--delete: empty config name")
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: d})
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	resps, err := adm.AlterTopicConfigs(rctx, alters, name)
	if err != nil {
		return requestErr(ctx, c.cf, err)
	}
	r, err := resps.On(name, nil)
	if err == nil {
		err = describeErr(r.Err, r.ErrMessage)
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("topic %q does not exist", name)
	}
	if err != nil {
		return fmt.Errorf("topic %q: %w", name, err)
	}
	fmt.Fprintf(cio.stdout, "altered configs of topic %s\n", name)
	return nil
}

const topicDeleteUsage = `Usage: sluice topic delete NAME... [flags]

Deletes the named topics and all their records. Each failure is reported
on its own line; the exit status is non-zero if any topic was not deleted
(a missing topic is not an error with --if-exists).

Examples:
  sluice topic delete orders
  sluice topic delete orders payments --if-exists

Flags:
`

// deleteBatch is the topics one DeleteTopics request of 'topic delete'
// names.
const deleteBatch = 100

func runTopicDelete(ctx context.Context, cio *cmdIO, args []string) error {
	c := newCommand(cio, "topic delete", topicDeleteUsage, true)
	ifExists := c.own.Bool("if-exists", false, "succeed for topics that do not exist")
	pos, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("want at least one topic NAME (run 'sluice topic delete --help')")
	}
	adm, rctx, done, err := c.cf.adminSession(ctx)
	if err != nil {
		return err
	}
	defer done()
	// Many topics go in requests of deleteBatch, with a progress line on
	// a terminal.
	var progress io.Writer
	if len(pos) > deleteBatch && cmdline.Terminal(cio.stdout) && cmdline.Terminal(cio.stderr) {
		progress = cio.stderr
	}
	var sent atomic.Int64
	stopProgress := cmdline.Progress(progress, func() string {
		return fmt.Sprintf("deleting topics: %d of %d", sent.Load(), len(pos))
	})
	resps := kadm.DeleteTopicResponses{}
	for i := 0; i < len(pos); i += deleteBatch {
		rs, err := adm.DeleteTopics(rctx, pos[i:min(i+deleteBatch, len(pos))]...)
		if err != nil {
			stopProgress()
			return requestErr(ctx, c.cf, err)
		}
		maps.Copy(resps, rs)
		sent.Add(int64(len(rs)))
	}
	stopProgress()
	var failed []string
	for _, name := range pos {
		r, ok := resps[name]
		switch {
		case !ok:
			failed = append(failed, fmt.Sprintf("topic %q: not in the broker's answer", name))
		case errors.Is(r.Err, kerr.UnknownTopicOrPartition):
			if !*ifExists {
				failed = append(failed, fmt.Sprintf("topic %q does not exist", name))
			}
		case r.Err != nil:
			failed = append(failed, fmt.Sprintf("topic %q: %v", name, describeErr(r.Err, r.ErrMessage)))
		default:
			fmt.Fprintf(cio.stdout, "deleted topic %s\n", name)
		}
	}
	return multiErr(cio, "topic delete", failed)
}

// multiErr reports all but the last failure on stderr and returns the last
// as the command's error.
func multiErr(cio *cmdIO, name string, failed []string) error {
	if len(failed) == 0 {
		return nil
	}
	for _, f := range failed[:len(failed)-1] {
		fmt.Fprintf(cio.stderr, "sluice %s: %s\n", name, oneLine(f))
	}
	return errors.New(failed[len(failed)-1])
}
