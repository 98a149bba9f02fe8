package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestGroupCommandsSluice(t *testing.T) {
	c, _ := startSluice(t)
	if !supportsGroups(t, c.addr) {
		t.Skip("the broker does not serve FindCoordinator (API key 10) yet")
	}
	testGroupCommands(t, c)
}

// TestGroupCommandsKfake runs the same against franz-go's fake Kafka.
func TestGroupCommandsKfake(t *testing.T) {
	testGroupCommands(t, startKfake(t))
}

// tableRows parses an aligned table into its header and rows of fields.
func tableRows(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	for line := range strings.Lines(out) {
		if header == nil {
			header = strings.Fields(line)
			continue
		}
		rows = append(rows, strings.Fields(line))
	}
	return header, rows
}

// groupLag sums the CURRENT-OFFSET, LOG-END-OFFSET and LAG columns of
// sluice group describe.
func groupLag(t *testing.T, c cluster, group string) (current, end, lag int64, rows [][]string) {
	t.Helper()
	r := c.ok("", "group", "describe", group)
	header, rows := tableRows(t, r.stdout)
	if want := "TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG MEMBER-ID CLIENT-ID HOST"; strings.Join(header, " ") != want {
		t.Fatalf("describe header %q, want %q", header, want)
	}
	for _, row := range rows {
		if len(row) != 8 {
			t.Fatalf("describe row %q", row)
		}
		for i, dst := range []*int64{&current, &end, &lag} {
			if i == 0 && row[2] == "-" { // nothing committed
				continue
			}
			n, err := strconv.ParseInt(row[2+i], 10, 64)
			if err != nil {
				t.Fatalf("describe row %q: %v", row, err)
			}
			*dst += n
		}
	}
	return current, end, lag, rows
}

func testGroupCommands(t *testing.T, c cluster) {
	c.ok("", "topic", "create", "gt", "--partitions", "2")
	var in strings.Builder
	for i := range 100 {
		fmt.Fprintf(&in, "k%d:v%d\n", i, i)
	}
	c.ok(in.String(), "produce", "gt", "--key-delimiter", ":")

	// Consume 30 in a group; their offsets are committed.
	r := c.ok("", "consume", "gt", "--group", "readers", "--offset", "beginning", "-n", "30")
	first := strings.Fields(r.stdout)
	if len(first) != 30 {
		t.Fatalf("consumed %d records, want 30", len(first))
	}

	r = c.ok("", "group", "list")
	header, rows := tableRows(t, r.stdout)
	if strings.Join(header, " ") != "GROUP STATE PROTOCOL-TYPE MEMBERS" || len(rows) != 1 ||
		strings.Join(rows[0], " ") != "readers Empty consumer 0" {
		t.Errorf("group list:\n%s", r.stdout)
	}
	var listed []groupSummary
	if err := json.Unmarshal([]byte(c.ok("", "group", "list", "--format", "json").stdout), &listed); err != nil || len(listed) != 1 || listed[0].Group != "readers" {
		t.Errorf("group list json: %+v, %v", listed, err)
	}

	cur, end, lag, rows := groupLag(t, c, "readers")
	if cur != 30 || end != 100 || lag != 70 || len(rows) != 2 || rows[0][5] != "-" {
		t.Errorf("describe: current %d, end %d, lag %d, rows %q", cur, end, lag, rows)
	}
	var info groupInfo
	if err := json.Unmarshal([]byte(c.ok("", "group", "describe", "readers", "--format", "json").stdout), &info); err != nil {
		t.Fatal(err)
	}
	if info.TotalLag != 70 || info.State != "Empty" || len(info.Partitions) != 2 || info.Partitions[0].LogEndOffset == nil || info.Partitions[1].LogEndOffset == nil ||
		*info.Partitions[0].LogEndOffset+*info.Partitions[1].LogEndOffset != 100 {
		t.Errorf("describe json: %+v", info)
	}

	// The group resumes where it stopped: the other 70, then exits at the
	// end. (--offset applies to the partitions without a commit.)
	r = c.ok("", "consume", "gt", "--group", "readers", "--offset", "beginning", "-e")
	rest := strings.Fields(r.stdout)
	seen := map[string]bool{}
	for _, v := range append(first, rest...) {
		seen[v] = true
	}
	if len(rest) != 70 || len(seen) != 100 {
		t.Errorf("resumed with %d records, %d distinct in all", len(rest), len(seen))
	}
	if _, _, lag, _ := groupLag(t, c, "readers"); lag != 0 {
		t.Errorf("lag %d after consuming everything", lag)
	}
	// At the end already, -e exits at once.
	if r = c.ok("", "consume", "gt", "--group", "readers", "-e"); r.stdout != "" {
		t.Errorf("consumed %q past the end", r.stdout)
	}

	// Seek.
	r = c.ok("", "group", "seek", "readers", "--topic", "gt", "--to", "beginning")
	if header, rows := tableRows(t, r.stdout); strings.Join(header, " ") != "TOPIC PARTITION OLD-OFFSET NEW-OFFSET" || len(rows) != 2 || rows[0][3] != "0" || rows[1][3] != "0" {
		t.Errorf("seek output:\n%s", r.stdout)
	}
	if _, _, lag, _ := groupLag(t, c, "readers"); lag != 100 {
		t.Errorf("lag %d after seeking to the beginning", lag)
	}
	c.ok("", "group", "seek", "readers", "--topic", "gt", "--to", "-10")
	if _, _, lag, _ := groupLag(t, c, "readers"); lag != 20 {
		t.Errorf("lag %d after seeking to -10", lag)
	}
	c.ok("", "group", "seek", "readers", "--topic", "gt", "--to", "0", "--partition", "0", "--dry-run")
	if _, _, lag, _ := groupLag(t, c, "readers"); lag != 20 {
		t.Errorf("lag %d after a dry run", lag)
	}
	c.ok("", "group", "seek", "readers", "--topic", "gt", "--to", "end", "--partition", "1")
	if _, _, lag, _ := groupLag(t, c, "readers"); lag != 10 {
		t.Errorf("lag %d after seeking partition 1 to the end", lag)
	}
	// Seeking creates a group that does not exist.
	c.ok("", "group", "seek", "fresh", "--topic", "gt", "--to", "@0")
	if _, _, lag, _ := groupLag(t, c, "fresh"); lag != 100 {
		t.Errorf("new group: lag %d", lag)
	}

	// With an active member, seek and delete refuse and describe shows it.
	ctx, cancel := context.WithCancel(t.Context())
	var bgOut, bgErr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		cio := &cmdIO{stdout: &bgOut, stderr: &bgErr}
		done <- single(ctx, cio, "consume", runConsume, []string{"gt", "--group", "readers", "--brokers", c.addr, "--client-id", "bg-consumer"})
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, _, rows := groupLag(t, c, "readers")
		if len(rows) > 0 && rows[0][5] != "-" {
			if rows[0][6] != "bg-consumer" {
				t.Errorf("member row %q", rows[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background consumer never joined (stderr %q)", bgErr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.fails(1, "", []string{"group", "seek", "readers", "--topic", "gt", "--to", "beginning"}, "seek needs a group without active members")
	c.fails(1, "", []string{"group", "delete", "readers"}, "active members")
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("background consumer: exit %d, stderr %q", code, bgErr.String())
	}

	// Delete.
	r = c.run("", "group", "delete", "readers", "fresh")
	if r.code != 0 || r.stdout != "deleted group readers\ndeleted group fresh\n" {
		t.Errorf("delete: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.fails(1, "", []string{"group", "describe", "readers"}, `group "readers" does not exist`)
	c.fails(1, "", []string{"group", "delete", "readers"}, `group "readers" does not exist`)
	if r = c.ok("", "group", "list"); strings.Contains(r.stdout, "readers") {
		t.Errorf("list after delete:\n%s", r.stdout)
	}
}
