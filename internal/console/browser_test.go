package console_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluice-io/sluice/internal/broker"
)

// TestBrowser drives the console in Debian's chromium through the npm
// package playwright-core (testdata/browser, installed by `npm ci` in
// scripts/test.sh): create a topic, produce messages from the form, find
// one with a filter, see a group's lag fall to 0 after consuming, reset its
// offsets, edit a config and delete the topic, on a phone-sized viewport,
// with no console error or failed response on any page. Screenshots of
// each page go to a temporary directory whose path is logged (kept after
// the test). It skips when chromium or node_modules are missing, unless CI
// is "true".
func TestBrowser(t *testing.T) {
	dir, err := filepath.Abs("testdata/browser")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		missing = append(missing, "/usr/bin/chromium (apt-get install chromium)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "testdata/browser/node_modules (npm ci)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if len(missing) > 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs %s", strings.Join(missing, ", "))
		}
		t.Skipf("browser test needs %s", strings.Join(missing, ", "))
	}
	shots, err := os.MkdirTemp("", "sluice-console-screenshots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	// super.users turns on the ACL authorizer (the security page), everyone
	// anonymous and a super user.
	tb := startBroker(t, broker.Config{RegistryListen: "127.0.0.1:0", Kafka: map[string]string{"super.users": "User:ANONYMOUS"}})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SLUICE_URL="+tb.base, "SHOTS="+shots)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	steps := map[string]func() error{
		"commit-start": func() error { return commitStart(ctx, tb) },
		"consume":      func() error { return consumeAll(ctx, tb) },
		"produce-tail": func() error { return produceTail(ctx, tb) },
	}
	done := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Log("browser:", line)
		if name, ok := strings.CutPrefix(line, "STEP "); ok {
			fn := steps[name]
			if fn == nil {
				t.Errorf("unknown step %q", name)
				break
			}
			if err := fn(); err != nil {
				t.Errorf("step %s: %v", name, err)
				break
			}
			if _, err := io.WriteString(stdin, "ok\n"); err != nil {
				t.Errorf("answering step %s: %v", name, err)
				break
			}
		}
		if strings.HasPrefix(line, "DONE ") {
			done = true
			stdin.Close()
		}
	}
	stdin.Close()
	io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("browser script: %v\n%s", err, stderr.String())
	}
	if !done {
		t.Fatalf("browser script did not finish\n%s", stderr.String())
	}
	pngs, _ := filepath.Glob(filepath.Join(shots, "*.png"))
	if len(pngs) < 18 {
		t.Fatalf("%d screenshots in %s, want 18", len(pngs), shots)
	}
}

// commitStart commits offset 0 of browser-topic/0 for browser-group, a
// group without members.
func commitStart(ctx context.Context, tb *testBroker) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()))
	if err != nil {
		return err
	}
	defer cl.Close()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "browser-topic", Partition: 0, At: 0, LeaderEpoch: -1})
	resp, err := kadm.NewClient(cl).CommitOffsets(ctx, "browser-group", os)
	if err != nil {
		return err
	}
	return resp.Error()
}

// consumeAll has browser-group consume browser-topic to its end, commit
// and leave.
func consumeAll(ctx context.Context, tb *testBroker) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.ConsumerGroup("browser-group"),
		kgo.ConsumeTopics("browser-topic"), kgo.DisableAutoCommit())
	if err != nil {
		return err
	}
	defer cl.Close()
	for got := 0; got < 3; {
		fs := cl.PollRecords(ctx, 3-got)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("consumed %d of 3: %w", got, err)
		}
		got += fs.NumRecords()
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return err
		}
	}
	return nil
}

// produceTail produces a record to browser-topic for the live tail page to
// show, and one with a header for the header filter.
func produceTail(ctx context.Context, tb *testBroker) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(tb.Addr().String()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(ctx,
		&kgo.Record{Topic: "browser-topic", Partition: 1, Value: []byte("tailed-message")},
		&kgo.Record{Topic: "browser-topic", Partition: 1, Value: []byte("with-header"), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("abc-1")}}},
	).FirstErr()
}
