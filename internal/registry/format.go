package registry

// The ?format= parameter of the schema reads (GET /schemas/ids/{id}[/schema],
// GET /subjects/{s}/versions/{v}[/schema]). Confluent documents "resolved"
// for Avro and "serialized" and "ignore_extensions" for Protobuf; Sluice
// has "serialized", which Confluent's Protobuf deserializers (JavaScript,
// Go) ask for and parse as a descriptor. Other formats, as in Confluent for
// a format a type does not have, give the schema as stored.

import "fmt"

const formatSerialized = "serialized"

// formatted is the text of sc in the format c asks for. Called with mu held.
func (r *Registry) formatted(c *call, sc *schema) (string, error) {
	if sc.typ != TypeProtobuf || c.req.URL.Query().Get("format") != formatSerialized {
		return sc.text, nil
	}
	p, err := r.parsedByID(sc.id)
	if err != nil {
		return "", err
	}
	ps, ok := p.(*protoSchema)
	if !ok {
		return "", fmt.Errorf("schema %d: parsed as %T, not Protobuf", sc.id, p)
	}
	return ps.serialized(), nil
}

// serialized is the schema as a base64 FileDescriptorProto without source
// information: as registered when it was registered as a descriptor, else
// the compiled .proto text (the normalized form).
func (p *protoSchema) serialized() string {
	if asDescriptor(p.text) != nil {
		return p.text
	}
	return p.canonical(true)
}
