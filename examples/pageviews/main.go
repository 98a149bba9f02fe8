// Command pageviews counts page views in tumbling windows of event time
// and writes each window's final count once, when the window closes.
//
//	pageviews --brokers 127.0.0.1:9092 [--window 1m] [--grace 10s]
//
// It reads topic page-views (key: the page's name; the record's timestamp
// is the view's time; the value is ignored) and, when a window closes
// (stream time, the largest timestamp its partition has seen, reaches the
// window's end plus the grace period), writes one record to
// page-view-counts: key the page, value
// {"window_start": MS, "window_end": MS, "count": N}, N the number of
// views with window_start <= timestamp < window_end that arrived before
// the window closed. It runs exactly-once by default: a read_committed
// consumer of page-view-counts sees exactly one record per page and
// window, whatever kills and restarts of workers or brokers happen.
// The other flags are streams.Main's (--guarantee, --state-dir,
// --instance-id, --log-level, and the commands worker, tables, reset).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/streams"
)

func main() {
	window, grace := time.Minute, 10*time.Second
	args, err := windowFlags(os.Args[1:], &window, &grace)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pageviews: %v\n", err)
		os.Exit(2)
	}
	app, err := streams.NewApp("pageviews", streams.ProcessingGuarantee(streams.ExactlyOnce))
	if err != nil {
		fmt.Fprintf(os.Stderr, "pageviews: %v\n", err)
		os.Exit(1)
	}
	Topology(app, window, grace)
	os.Exit(streams.MainArgs(app, args, os.Stdout, os.Stderr))
}

// windowFlags takes --window and --grace (also -window, --window=D) out of
// args and returns the rest, for streams.MainArgs.
func windowFlags(args []string, window, grace *time.Duration) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		var dst *time.Duration
		var val string
		switch {
		case a == "--" || !strings.HasPrefix(a, "-"):
			rest = append(rest, args[i:]...)
			return rest, nil
		case name == "window" || name == "grace":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a duration", a)
			}
			val = args[i+1]
			i++
		case strings.HasPrefix(name, "window=") || strings.HasPrefix(name, "grace="):
			name, val, _ = strings.Cut(name, "=")
		default:
			// streams.Main's flags all take a value.
			rest = append(rest, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && name != "h" && name != "help" {
				rest = append(rest, args[i+1])
				i++
			}
			continue
		}
		if name == "window" {
			dst = window
		} else {
			dst = grace
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
		*dst = d
	}
	if *window < time.Millisecond || *window%time.Millisecond != 0 {
		return nil, fmt.Errorf("--window %v: want a positive whole number of milliseconds", *window)
	}
	if *grace < 0 || *grace%time.Millisecond != 0 {
		return nil, fmt.Errorf("--grace %v: want a non-negative whole number of milliseconds", *grace)
	}
	return rest, nil
}

// Count is the value of a page-view-counts record.
type Count struct {
	WindowStart int64 `json:"window_start"`
	WindowEnd   int64 `json:"window_end"`
	Count       int64 `json:"count"`
}

// PageViews is the app's topics and table, for tests.
type PageViews struct {
	Views  *streams.Topic[string, []byte]        // page-views
	Counts *streams.Topic[string, Count]         // page-view-counts
	Table  *streams.WindowedTable[string, int64] // views per page and window
}

// Topology declares the pageviews topics, table and agent on app.
func Topology(app *streams.App, window, grace time.Duration) PageViews {
	views := streams.NewTopic(app, "page-views", codec.String(), codec.Bytes())
	counts := streams.NewTopic(app, "page-view-counts", codec.String(), codec.JSON[Count]())
	table := streams.NewWindowedTable(app, "views", views, codec.String(), codec.JSON[int64](),
		streams.TumblingWindows(window).Grace(grace),
		streams.FinalResults(func(ctx context.Context, page string, w streams.Window, n int64) error {
			return counts.Send(ctx, page, Count{WindowStart: w.Start.UnixMilli(), WindowEnd: w.End.UnixMilli(), Count: n})
		}))
	streams.NewAgent(app, "count", views, func(ctx context.Context, s *streams.Stream[string, []byte]) error {
		for ev := range s.Events() {
			if err := table.Update(ctx, ev.Partition, ev.Key, ev.Timestamp, func(n int64) int64 { return n + 1 }); err != nil {
				return err
			}
		}
		return nil
	})
	return PageViews{Views: views, Counts: counts, Table: table}
}
