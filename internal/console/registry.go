package console

// The schema registry as the console reaches it: franz-go's sr client over
// the registry's REST handler served in-process (Backend.Registry), as the
// principal of the console's request, and a per-page cache of decoders by
// schema id (internal/schemajson, the CLI's JSON mapping).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/sluice-io/sluice/codec"
	"github.com/sluice-io/sluice/internal/schemajson"
)

// maxRegistryResponse bounds a registry response read in-process.
const maxRegistryResponse = 16 << 20

// registryTransport serves the sr client's requests with the registry's
// handler, in-process.
type registryTransport struct{ h http.Handler }

type remoteKey struct{}

func (t registryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	if ra, ok := req.Context().Value(remoteKey{}).(string); ok {
		req.RemoteAddr = ra
	}
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, req)
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	if rec.over {
		return nil, fmt.Errorf("schema registry response larger than %d bytes", maxRegistryResponse)
	}
	return &http.Response{StatusCode: rec.code, Status: strconv.Itoa(rec.code) + " " + http.StatusText(rec.code), Header: rec.header,
		Body: io.NopCloser(bytes.NewReader(rec.buf.Bytes())), ContentLength: int64(rec.buf.Len()), Request: req,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// recorder is a bounded http.ResponseWriter.
type recorder struct {
	header http.Header
	code   int
	buf    bytes.Buffer
	over   bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if r.buf.Len()+len(p) > maxRegistryResponse {
		r.over = true
		return 0, errors.New("response too large")
	}
	return r.buf.Write(p)
}

// registry is an sr client acting as the principal of r's context, or
// ErrNoRegistry.
func (c *Console) registry(r *http.Request) (*sr.Client, context.Context, error) {
	h, err := c.be.Registry()
	if err != nil {
		return nil, nil, err
	}
	cl, err := sr.NewClient(sr.URLs("http://registry.in-process"), sr.HTTPClient(&http.Client{Transport: registryTransport{h}}),
		sr.UserAgent("sluice-console"))
	if err != nil {
		return nil, nil, fmt.Errorf("schema registry client: %w", err)
	}
	return cl, context.WithValue(r.Context(), remoteKey{}, r.RemoteAddr), nil
}

// decoders decodes record keys and values in Confluent's wire format with
// the schema their id names, fetched the first time the page meets it.
type decoders struct {
	cl    *sr.Client
	ctx   context.Context
	by    map[uint32]*idDecoder
	limit int // ids fetched at most (a page of records with many ids stays bounded)
}

type idDecoder struct {
	typ    string
	decode func([]byte) ([]byte, error)
	err    error
}

// newDecoders is nil (decode nothing) when the broker runs no registry.
func (c *Console) newDecoders(r *http.Request) *decoders {
	cl, ctx, err := c.registry(r)
	if err != nil {
		return nil
	}
	return &decoders{cl: cl, ctx: ctx, by: map[uint32]*idDecoder{}, limit: 64}
}

// decode is b's JSON text and a description of its schema when b is in
// Confluent's wire format with an id the registry knows; ok is false for
// anything else (shown as is). A known id whose decoding fails gives the
// error.
func (d *decoders) decode(b []byte) (js []byte, schema string, ok bool, err error) {
	if d == nil || len(b) < 5 || b[0] != 0 {
		return nil, "", false, nil
	}
	id, _, perr := codec.ParseHeader(b)
	if perr != nil {
		return nil, "", false, nil
	}
	dec, seen := d.by[id]
	if !seen {
		if len(d.by) >= d.limit {
			return nil, "", false, nil
		}
		dec = d.fetch(id)
		d.by[id] = dec
	}
	if dec == nil {
		return nil, "", false, nil // no such id: not registry framing
	}
	schema = fmt.Sprintf("%s, schema id %d", dec.typ, id)
	if dec.err != nil {
		return nil, schema, true, dec.err
	}
	js, err = dec.decode(b)
	return js, schema, true, err
}

func (d *decoders) fetch(id uint32) *idDecoder {
	s, err := d.cl.SchemaByID(d.ctx, int(id))
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return nil
		}
		return &idDecoder{typ: "schema", err: fmt.Errorf("fetching schema id %d: %w", id, err)}
	}
	dec := &idDecoder{typ: typeName(s.Type)}
	refs, err := schemajson.ResolveRefs(d.ctx, d.cl, s.References)
	if err != nil {
		dec.err = err
		return dec
	}
	dec.decode, dec.err = schemajson.Decoder(schemajson.CodecSchema(s), refs)
	return dec
}

// typeName is a schema type as people write it.
func typeName(t sr.SchemaType) string {
	switch t {
	case sr.TypeProtobuf:
		return "Protobuf"
	case sr.TypeJSON:
		return "JSON Schema"
	}
	return "Avro"
}

// valueSchema is the latest schema of a topic's value subject
// (TopicNameStrategy: TOPIC-value), which the produce form encodes with.
type valueSchema struct {
	Subject string
	Version int
	ID      int
	Type    string
	Text    string
}

// valueSchema is topic's value schema, nil when it has none (or the
// registry is off or the user may not read it).
func (c *Console) valueSchema(r *http.Request, topic string) *valueSchema {
	cl, ctx, err := c.registry(r)
	if err != nil {
		return nil
	}
	ss, err := cl.SchemaByVersion(ctx, topic+"-value", -1)
	if err != nil {
		return nil
	}
	return &valueSchema{Subject: ss.Subject, Version: ss.Version, ID: ss.ID, Type: typeName(ss.Type), Text: ss.Schema.Schema}
}

// encodeValue encodes JSON text js in Confluent's wire format with the
// latest schema of topic's value subject.
func (c *Console) encodeValue(r *http.Request, topic string, js []byte) ([]byte, error) {
	cl, ctx, err := c.registry(r)
	if errors.Is(err, ErrNoRegistry) {
		return nil, badInput("the broker runs no schema registry to encode with")
	}
	if err != nil {
		return nil, err
	}
	subject := topic + "-value"
	ss, err := cl.SchemaByVersion(ctx, subject, -1)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.StatusCode < 500 {
			return nil, badInput("no schema to encode with: subject %s: %s", subject, re.Message)
		}
		return nil, fmt.Errorf("latest schema of %s: %w", subject, err)
	}
	refs, err := schemajson.ResolveRefs(ctx, cl, ss.References)
	if err != nil {
		return nil, fmt.Errorf("schema %d of %s: %w", ss.ID, subject, err)
	}
	enc, err := schemajson.Encoder(uint32(ss.ID), schemajson.CodecSchema(ss.Schema), refs)
	if err != nil {
		return nil, fmt.Errorf("schema %d of %s: %w", ss.ID, subject, err)
	}
	out, err := enc(nil, js)
	if err != nil {
		return nil, badInput("the value %v (schema %s version %d, id %d)", err, subject, ss.Version, ss.ID)
	}
	return out, nil
}
