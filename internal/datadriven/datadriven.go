// Package datadriven runs table tests kept in text files, in the style of
// cockroachdb/datadriven: each case is a command line, optional input
// lines, a "----" separator and the expected output, ended by a blank
// line; lines starting with # between cases are comments.
//
//	join group=g member=a
//	----
//	join#1: pending
//
// Run with -rewrite to regenerate the expected output of every case from
// what the code produces now; the change is then reviewed as a diff.
// Expected output may not contain blank lines (the runner replaces them
// with a single "." line).
package datadriven

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of data-driven tests")

// Case is one command of a file.
type Case struct {
	Pos   string            // file:line, for messages
	Cmd   string            // the first word
	Args  map[string]string // key=value words; a bare word is a key with value ""
	Keys  []string          // the argument keys in order
	Input string            // lines between the command and "----"
}

// Arg returns the value of key, or def when absent.
func (c *Case) Arg(key, def string) string {
	if v, ok := c.Args[key]; ok {
		return v
	}
	return def
}

// Has reports whether key was given.
func (c *Case) Has(key string) bool { _, ok := c.Args[key]; return ok }

// Walk runs every testdata file matching pattern as a subtest.
func Walk(t *testing.T, pattern string, run func(t *testing.T, path string)) {
	t.Helper()
	paths, err := filepath.Glob(pattern)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files match %s: %v", pattern, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) { run(t, p) })
	}
}

type block struct {
	pre      []string // comments and blank lines before the case
	c        Case
	cmdLines []string
	want     string
}

// RunFile runs every case of path through do, comparing its output with
// the expected one (or rewriting the file with -rewrite).
func RunFile(t *testing.T, path string, do func(c *Case) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks, tail, err := parse(path, string(data))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, b := range blocks {
		got := normalize(do(&b.c))
		if !*rewrite && got != b.want {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", b.c.Pos, b.cmdLines[0], got, b.want)
		}
		for _, l := range b.pre {
			out.WriteString(l + "\n")
		}
		for _, l := range b.cmdLines {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n")
		if got != "" {
			out.WriteString(got + "\n")
		}
	}
	for _, l := range tail {
		out.WriteString(l + "\n")
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func normalize(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			l = "."
		}
		lines[i] = l
	}
	if len(lines) == 1 && lines[0] == "." {
		return ""
	}
	return strings.Join(lines, "\n")
}

func parse(path, data string) ([]block, []string, error) {
	lines := strings.Split(strings.TrimRight(data, "\n"), "\n")
	var blocks []block
	var pre []string
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pre = append(pre, l)
			i++
			continue
		}
		b := block{pre: pre}
		pre = nil
		b.c.Pos = fmt.Sprintf("%s:%d", filepath.Base(path), i+1)
		b.cmdLines = append(b.cmdLines, l)
		fields := strings.Fields(l)
		b.c.Cmd = fields[0]
		b.c.Args = map[string]string{}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			b.c.Args[k] = v
			b.c.Keys = append(b.c.Keys, k)
		}
		i++
		var input []string
		for ; i < len(lines) && lines[i] != "----"; i++ {
			if strings.TrimSpace(lines[i]) == "" {
				return nil, nil, fmt.Errorf("%s: no ---- after the command", b.c.Pos)
			}
			input = append(input, lines[i])
			b.cmdLines = append(b.cmdLines, lines[i])
		}
		if i == len(lines) {
			return nil, nil, fmt.Errorf("%s: no ---- after the command", b.c.Pos)
		}
		b.c.Input = strings.Join(input, "\n")
		i++ // ----
		var want []string
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			want = append(want, lines[i])
		}
		b.want = strings.Join(want, "\n")
		blocks = append(blocks, b)
	}
	return blocks, pre, nil
}
