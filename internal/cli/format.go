package cli

// Output and input formats shared by the client commands: aligned tables,
// JSON, kcat-like record format strings (for consume output and produce
// input) and backslash escapes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kgo"
)

// unescape expands \n, \t, \r, \0 and \\ in s.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return "", errors.New(`trailing \ (write \\ for a backslash)`)
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case '\\':
			b.WriteByte('\\')
		default:
			return "", fmt.Errorf(`unknown escape \%c (want \n, \t, \r, \0 or \\)`, s[i])
		}
	}
	return b.String(), nil
}

// A formatPart is either literal text or a %-token.
type formatPart struct {
	lit   string
	token byte // 0 for a literal
}

// parseFormat splits a format string into literals and the %-tokens in
// allowed (plus %% for a percent sign), after expanding escapes.
func parseFormat(s, allowed string) ([]formatPart, error) {
	s, err := unescape(s)
	if err != nil {
		return nil, err
	}
	var parts []formatPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return nil, errors.New("trailing % (write %% for a percent sign)")
		}
		i++
		switch t := s[i]; {
		case t == '%':
			lit.WriteByte('%')
		case strings.IndexByte(allowed, t) >= 0:
			flush()
			parts = append(parts, formatPart{token: t})
		default:
			return nil, fmt.Errorf("unknown token %%%c (want one of %s)", t, tokenList(allowed))
		}
	}
	flush()
	return parts, nil
}

func tokenList(allowed string) string {
	var ts []string
	for i := 0; i < len(allowed); i++ {
		ts = append(ts, "%"+allowed[i:i+1])
	}
	return strings.Join(ts, " ")
}

// consumeTokens are the tokens of consume's --format.
const consumeTokens = "tpokvshTKS"

// recordFormatter writes one record per call in a format string or JSON.
type recordFormatter struct {
	json  bool
	parts []formatPart
	buf   []byte
	// decodedKey and decodedValue: keys (values) are JSON text decoded
	// from the registry's wire format, embedded as JSON in json output.
	decodedKey, decodedValue bool
}

// schemaIDs are the registry schema ids a record's key and value were
// decoded with (nil: not decoded).
type schemaIDs struct{ key, value *uint32 }

func newRecordFormatter(format string) (*recordFormatter, error) {
	if format == "json" {
		return &recordFormatter{json: true}, nil
	}
	parts, err := parseFormat(format, consumeTokens)
	if err != nil {
		return nil, fmt.Errorf("--format %q: %w", format, err)
	}
	return &recordFormatter{parts: parts}, nil
}

// jsonRecord is one line of consume's JSON output. Key and Value are
// strings (*string), or JSON (json.RawMessage) when decoded.
type jsonRecord struct {
	Topic       string            `json:"topic"`
	Partition   int32             `json:"partition"`
	Offset      int64             `json:"offset"`
	Timestamp   int64             `json:"timestamp"`
	Key         any               `json:"key"`
	Value       any               `json:"value"`
	Headers     map[string]string `json:"headers"`
	KeySchemaID *uint32           `json:"keySchemaId,omitempty"`
	ValSchemaID *uint32           `json:"valueSchemaId,omitempty"`
}

// jsonField is b as a JSON string, or as embedded JSON when decoded.
func jsonField(b []byte, decoded bool) any {
	if decoded && b != nil {
		return json.RawMessage(b)
	}
	return nullableString(b)
}

func nullableString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func (f *recordFormatter) write(w io.Writer, r *kgo.Record) error {
	return f.writeWith(w, r, schemaIDs{})
}

func (f *recordFormatter) writeWith(w io.Writer, r *kgo.Record, ids schemaIDs) error {
	b := f.buf[:0]
	if f.json {
		jr := jsonRecord{
			Topic:       r.Topic,
			Partition:   r.Partition,
			Offset:      r.Offset,
			Timestamp:   r.Timestamp.UnixMilli(),
			Key:         jsonField(r.Key, f.decodedKey),
			Value:       jsonField(r.Value, f.decodedValue),
			Headers:     make(map[string]string, len(r.Headers)),
			KeySchemaID: ids.key,
			ValSchemaID: ids.value,
		}
		for _, h := range r.Headers {
			jr.Headers[h.Key] = string(h.Value)
		}
		j, err := json.Marshal(jr)
		if err != nil {
			return err
		}
		b = append(append(b, j...), '\n')
	} else {
		for _, p := range f.parts {
			switch p.token {
			case 0:
				b = append(b, p.lit...)
			case 't':
				b = append(b, r.Topic...)
			case 'p':
				b = strconv.AppendInt(b, int64(r.Partition), 10)
			case 'o':
				b = strconv.AppendInt(b, r.Offset, 10)
			case 'k':
				b = append(b, r.Key...)
			case 'v', 's':
				b = append(b, r.Value...)
			case 'h':
				for i, h := range r.Headers {
					if i > 0 {
						b = append(b, ',')
					}
					b = append(append(append(b, h.Key...), '='), h.Value...)
				}
			case 'T':
				b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
			case 'K':
				b = strconv.AppendInt(b, lenOrNull(r.Key), 10)
			case 'S':
				b = strconv.AppendInt(b, lenOrNull(r.Value), 10)
			}
		}
	}
	f.buf = b
	_, err := w.Write(b)
	return err
}

// lenOrNull is a length, or -1 for null (as kcat prints %K and %S).
func lenOrNull(b []byte) int64 {
	if b == nil {
		return -1
	}
	return int64(len(b))
}

// produceTokens are the tokens of produce's --format.
const produceTokens = "kvspT"

// lineParser takes a record's fields out of one input line.
type lineParser struct {
	parts []formatPart
	// keyDelim, when parts is nil: the line is KEY<delim>VALUE, or all
	// value with a null key when the delimiter is missing (kcat -K).
	keyDelim string
}

// newLineParser checks a produce --format: every token must be separated
// from the next by literal text, and a token may appear once.
func newLineParser(format string) (*lineParser, error) {
	parts, err := parseFormat(format, produceTokens)
	if err != nil {
		return nil, err
	}
	seen := map[byte]bool{}
	for i, p := range parts {
		if p.token == 0 {
			continue
		}
		t := p.token
		if t == 's' {
			t = 'v'
		}
		if seen[t] {
			return nil, fmt.Errorf("%%%c appears twice", p.token)
		}
		seen[t] = true
		if i+1 < len(parts) && parts[i+1].token != 0 {
			return nil, fmt.Errorf("%%%c and %%%c need literal text between them", p.token, parts[i+1].token)
		}
	}
	if !seen['v'] && !seen['k'] {
		return nil, errors.New("no %k or %v")
	}
	return &lineParser{parts: parts}, nil
}

// lineFields are the parts of one input line; nil key means null.
type lineFields struct {
	key, value   []byte
	partition    int32
	hasPartition bool
	timestamp    int64
	hasTimestamp bool
}

func (lp *lineParser) parse(line []byte) (lineFields, error) {
	var f lineFields
	if lp.parts == nil {
		f.value = line
		if lp.keyDelim != "" {
			if k, v, ok := strings.Cut(string(line), lp.keyDelim); ok {
				f.key, f.value = []byte(k), []byte(v)
			}
		}
		return f, nil
	}
	rest := string(line)
	f.value = []byte{} // without %v the value is empty, not null
	for i, p := range lp.parts {
		if p.token == 0 {
			if !strings.HasPrefix(rest, p.lit) {
				return f, fmt.Errorf("expected %q", p.lit)
			}
			rest = rest[len(p.lit):]
			continue
		}
		field := rest
		if i+1 < len(lp.parts) {
			next := lp.parts[i+1].lit
			j := strings.Index(rest, next)
			if j < 0 {
				return f, fmt.Errorf("expected %q after %%%c", next, p.token)
			}
			field = rest[:j]
		}
		rest = rest[len(field):]
		switch p.token {
		case 'k':
			f.key = []byte(field)
		case 'v', 's':
			f.value = []byte(field)
		case 'p':
			n, err := strconv.ParseInt(field, 10, 32)
			if err != nil || n < 0 {
				return f, fmt.Errorf("partition %q: want a non-negative integer", field)
			}
			f.partition, f.hasPartition = int32(n), true
		case 'T':
			n, err := strconv.ParseInt(field, 10, 64)
			if err != nil || n < 0 {
				return f, fmt.Errorf("timestamp %q: want Unix milliseconds", field)
			}
			f.timestamp, f.hasTimestamp = n, true
		}
	}
	if rest != "" {
		return f, fmt.Errorf("unexpected %q at the end", rest)
	}
	return f, nil
}

// hasToken reports whether the parser reads token t.
func (lp *lineParser) hasToken(t byte) bool {
	for _, p := range lp.parts {
		if p.token == t {
			return true
		}
	}
	return false
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	t.row(toAny(header)...)
	return t
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, cellText(c))
	}
	fmt.Fprint(t.tw, "\n")
}

// cellText keeps cells single-line and tab-free, and shows empty as "-".
func cellText(c any) string {
	s := fmt.Sprint(c)
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

func (t *table) flush() error { return t.tw.Flush() }

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatFlag is --format for commands that print a table or JSON; an
// unknown value is a usage error at parse time.
type formatFlag struct{ json *bool }

// addFormatFlag registers --format (table or json) on c and returns
// whether JSON was chosen, valid after c.parse.
func addFormatFlag(c *command) *bool {
	f := formatFlag{json: new(bool)}
	c.own.Var(f, "format", "output `FORMAT`: table or json (default table)")
	return f.json
}

func (f formatFlag) String() string {
	if f.json != nil && *f.json {
		return "json"
	}
	return "table"
}

func (f formatFlag) Set(s string) error {
	switch s {
	case "table", "":
		*f.json = false
	case "json":
		*f.json = true
	default:
		return errors.New("want table or json")
	}
	return nil
}

// int32List collects repeated integer flags such as --partition.
type int32List []int32

func (l *int32List) String() string {
	var s []string
	for _, v := range *l {
		s = append(s, strconv.Itoa(int(v)))
	}
	return strings.Join(s, ",")
}

func (l *int32List) Set(v string) error {
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%q: want a non-negative integer", f)
		}
		*l = append(*l, int32(n))
	}
	return nil
}

// keyValues parses K=V pairs of a repeated flag.
func keyValues(flagName string, kvs []string) ([][2]string, error) {
	var out [][2]string
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: want KEY=VALUE", flagName, kv)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
