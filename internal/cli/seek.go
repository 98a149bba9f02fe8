package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
)

// seekFlags are the flags and checks shared by the commands that move a
// group's position on one topic (group seek, share-group reset-offsets):
// the topic, where to (an offsetSpec), which partitions, and a dry run.
type seekFlags struct {
	topic  *string
	to     *string
	parts  int32List
	dryRun *bool
	spec   offsetSpec
}

// addSeekFlags registers the seek flags on c; what names the offsets being
// set ("offsets" or "start offsets") and verb how they are stored.
func addSeekFlags(c *command, what, verb string) *seekFlags {
	f := &seekFlags{}
	f.topic = c.own.String("topic", "", "the `TOPIC` whose "+what+" to set (required)")
	f.to = c.own.String("to", "", "where to: beginning, end, `N`, -N or @UNIX_MS (required)")
	c.own.Var(&f.parts, "partition", "only partition `P` (repeatable or comma-separated; default all)")
	f.dryRun = c.own.Bool("dry-run", false, "show the new offsets without "+verb+" them")
	return f
}

// group checks the parsed arguments (one GROUP, --topic and --to given and
// valid) and returns the group's name.
func (f *seekFlags) group(c *command, pos []string) (string, error) {
	name, err := c.one(pos, "GROUP")
	if err != nil {
		return "", err
	}
	if *f.topic == "" {
		return "", usagef("--topic is required")
	}
	if *f.to == "" {
		return "", usagef("--to is required (beginning, end, N, -N or @UNIX_MS)")
	}
	spec, err := parseOffsetSpec(*f.to)
	if err != nil {
		return "", usagef("--to %v", err)
	}
	f.spec = spec
	return name, nil
}

// targets resolves --to on the selected partitions of --topic.
func (f *seekFlags) targets(ctx context.Context, adm *kadm.Client) (map[int32]int64, error) {
	ranges, err := topicRanges(ctx, adm, *f.topic)
	if err != nil {
		return nil, err
	}
	if len(f.parts) > 0 {
		sel := map[int32]partitionRange{}
		for _, p := range f.parts {
			r, ok := ranges[p]
			if !ok {
				return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", *f.topic, p, len(ranges))
			}
			sel[p] = r
		}
		ranges = sel
	}
	return resolveOffsets(ctx, adm, *f.topic, f.spec, ranges)
}

// commitSet is the new offsets as kadm.Offsets for a commit or an alter.
func (f *seekFlags) commitSet(offsets map[int32]int64) kadm.Offsets {
	var set kadm.Offsets
	for p, at := range offsets {
		set.AddOffset(*f.topic, p, at, -1)
	}
	return set
}

// print writes the old and new offset of each partition (old missing or
// negative shows as "-") under the given column names, and after a dry run
// prints dryNote on stderr.
func (f *seekFlags) print(cio *cmdIO, oldCol, newCol, dryNote string, old, offsets map[int32]int64) error {
	t := newTable(cio.stdout, "TOPIC", "PARTITION", oldCol, newCol)
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		o := "-"
		if v, ok := old[p]; ok && v >= 0 {
			o = fmt.Sprint(v)
		}
		t.row(*f.topic, p, o, offsets[p])
	}
	if err := t.flush(); err != nil {
		return err
	}
	if *f.dryRun {
		fmt.Fprintln(cio.stderr, dryNote)
	}
	return nil
}
