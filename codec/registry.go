package codec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
)

// SchemaType is the kind of a registered schema.
type SchemaType int

// The schema types of Confluent's registry.
const (
	SchemaTypeAvro SchemaType = iota
	SchemaTypeProtobuf
	SchemaTypeJSON
)

// String returns the registry's name of the type: AVRO, PROTOBUF or JSON.
func (t SchemaType) String() string {
	switch t {
	case SchemaTypeAvro:
		return "AVRO"
	case SchemaTypeProtobuf:
		return "PROTOBUF"
	case SchemaTypeJSON:
		return "JSON"
	}
	return fmt.Sprintf("SchemaType(%d)", int(t))
}

// Schema is a schema as a registry stores it: its type and text (Avro JSON,
// .proto source, or a JSON Schema document), and the references to other
// registered schemas it imports.
type Schema struct {
	Type       SchemaType
	Text       string
	References []SchemaReference
}

// SchemaReference names another registered schema that a schema imports:
// Name is how the schema refers to it (for Protobuf the import path),
// Subject and Version where it is registered.
type SchemaReference struct {
	Name    string
	Subject string
	Version int
}

// Registry is what a Serde needs from a schema registry. NewRegistryClient
// returns one speaking Confluent's REST API; implementations must be safe for
// concurrent use.
type Registry interface {
	// Register registers s under subject (or finds it registered there) and
	// returns its id: POST /subjects/{subject}/versions.
	Register(ctx context.Context, subject string, s Schema) (int, error)
	// Lookup returns the id of s if it is registered under subject, and
	// an error wrapping ErrSchemaNotFound if it is not: POST /subjects/{subject}.
	Lookup(ctx context.Context, subject string, s Schema) (int, error)
	// SchemaByID returns the schema with the id, and an error wrapping
	// ErrSchemaNotFound if there is none: GET /schemas/ids/{id}.
	SchemaByID(ctx context.Context, id int) (Schema, error)
	// SchemaByVersion returns the schema registered as version of
	// subject (a schema reference's target), and an error wrapping
	// ErrSchemaNotFound if there is none: GET /subjects/{subject}/versions/{version}.
	SchemaByVersion(ctx context.Context, subject string, version int) (Schema, error)
}

// ErrSchemaNotFound is wrapped by Registry errors for a schema, subject or id
// that the registry does not know.
var ErrSchemaNotFound = errors.New("codec: schema not found in the registry")

// RegistryOpt configures NewRegistryClient.
type RegistryOpt func(*registryConfig)

type registryConfig struct {
	user, pass   string
	httpClient   *http.Client
	maxRespBytes int64
}

// BasicAuth makes the client send HTTP basic authentication.
func BasicAuth(user, pass string) RegistryOpt {
	return func(c *registryConfig) { c.user, c.pass = user, pass }
}

// HTTPClient sets the http.Client the registry client uses (for TLS, proxies
// or timeouts); the default has a 30 s timeout.
func HTTPClient(c *http.Client) RegistryOpt {
	return func(rc *registryConfig) { rc.httpClient = c }
}

// MaxResponseBytes bounds the size of a registry response the client reads
// (default 16 MiB); a larger response fails the request.
func MaxResponseBytes(n int64) RegistryOpt {
	return func(c *registryConfig) { c.maxRespBytes = n }
}

// RegistryClient is a Registry speaking Confluent Schema Registry's REST API
// (content type application/vnd.schemaregistry.v1+json) over HTTP, built on
// franz-go's sr client. It does not cache; a Serde does.
type RegistryClient struct {
	cl *sr.Client
}

// NewRegistryClient returns a client of the registry at the URLs (tried in
// order on connection errors; "http://" is assumed when a URL has no scheme).
func NewRegistryClient(urls []string, opts ...RegistryOpt) (*RegistryClient, error) {
	if len(urls) == 0 {
		return nil, errors.New("codec: registry client: no URLs")
	}
	cfg := registryConfig{maxRespBytes: 16 << 20}
	for _, o := range opts {
		o(&cfg)
	}
	hc := cfg.httpClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	limited := *hc
	base := limited.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	limited.Transport = limitTransport{base: base, max: cfg.maxRespBytes}
	srOpts := []sr.ClientOpt{sr.URLs(urls...), sr.HTTPClient(&limited), sr.UserAgent("sluice-codec")}
	if cfg.user != "" || cfg.pass != "" {
		srOpts = append(srOpts, sr.BasicAuth(cfg.user, cfg.pass))
	}
	cl, err := sr.NewClient(srOpts...)
	if err != nil {
		return nil, fmt.Errorf("codec: registry client: %w", err)
	}
	return &RegistryClient{cl: cl}, nil
}

// Register implements Registry: POST /subjects/{subject}/versions.
func (c *RegistryClient) Register(ctx context.Context, subject string, s Schema) (int, error) {
	id, err := c.cl.RegisterSchema(ctx, subject, toSR(s), -1, -1) // one POST, no follow-up GET
	if err != nil {
		return 0, registryErr("register schema under subject "+subject, err)
	}
	return id, nil
}

// Lookup implements Registry: POST /subjects/{subject}.
func (c *RegistryClient) Lookup(ctx context.Context, subject string, s Schema) (int, error) {
	ss, err := c.cl.LookupSchema(ctx, subject, toSR(s))
	if err != nil {
		return 0, registryErr("look up schema under subject "+subject, err)
	}
	return ss.ID, nil
}

// SchemaByID implements Registry: GET /schemas/ids/{id}.
func (c *RegistryClient) SchemaByID(ctx context.Context, id int) (Schema, error) {
	s, err := c.cl.SchemaByID(ctx, id)
	if err != nil {
		return Schema{}, registryErr(fmt.Sprintf("get schema id %d", id), err)
	}
	return fromSR(s, fmt.Sprintf("schema id %d", id))
}

// SchemaByVersion implements Registry: GET /subjects/{subject}/versions/{version}.
func (c *RegistryClient) SchemaByVersion(ctx context.Context, subject string, version int) (Schema, error) {
	ss, err := c.cl.SchemaByVersion(ctx, subject, version)
	what := fmt.Sprintf("subject %s version %d", subject, version)
	if err != nil {
		return Schema{}, registryErr("get "+what, err)
	}
	return fromSR(ss.Schema, what)
}

func fromSR(s sr.Schema, what string) (Schema, error) {
	out := Schema{Text: s.Schema}
	switch s.Type {
	case sr.TypeAvro:
		out.Type = SchemaTypeAvro
	case sr.TypeProtobuf:
		out.Type = SchemaTypeProtobuf
	case sr.TypeJSON:
		out.Type = SchemaTypeJSON
	default:
		return Schema{}, fmt.Errorf("codec: registry: %s has unknown type %v", what, s.Type)
	}
	for _, r := range s.References {
		out.References = append(out.References, SchemaReference(r))
	}
	return out, nil
}

func toSR(s Schema) sr.Schema {
	out := sr.Schema{Schema: s.Text}
	switch s.Type {
	case SchemaTypeProtobuf:
		out.Type = sr.TypeProtobuf
	case SchemaTypeJSON:
		out.Type = sr.TypeJSON
	default:
		out.Type = sr.TypeAvro
	}
	for _, r := range s.References {
		out.References = append(out.References, sr.SchemaReference(r))
	}
	return out
}

// registryErr wraps a registry failure; Confluent's "not found" codes
// (40401 subject, 40402 version, 40403 schema, HTTP 404) also wrap
// ErrSchemaNotFound.
func registryErr(what string, err error) error {
	var re *sr.ResponseError
	if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || sr.IsNotFoundError(re.ErrorCode)) {
		return fmt.Errorf("codec: registry: %s: %w: %w", what, ErrSchemaNotFound, err)
	}
	return fmt.Errorf("codec: registry: %s: %w", what, err)
}

// limitTransport fails a response body longer than max bytes, so a broken or
// hostile registry cannot make the client buffer without bound.
type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// ErrResponseTooLarge is returned when a registry response exceeds
// MaxResponseBytes.
var ErrResponseTooLarge = errors.New("codec: registry response too large")

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: exactly max bytes is fine.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
