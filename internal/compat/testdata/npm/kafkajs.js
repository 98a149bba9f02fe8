// @kafkajs/confluent-schema-registry against a sluice registry: register
// (which also reads and sets the subject's compatibility level), Avro encode
// and decode in Confluent's wire format, getLatestSchemaId, getRegistryId,
// the compatibility error of an incompatible change, and Protobuf (.proto
// text) and JSON Schema round trips. Prints one JSON object;
// internal/compat/registry_npm_test.go asserts on it.
//
// Usage: node kafkajs.js REGISTRY_URL
'use strict';
const { SchemaRegistry, SchemaType, COMPATIBILITY } = require('@kafkajs/confluent-schema-registry');
const fs = require('fs');
const path = require('path');

const registry = new SchemaRegistry({ host: process.argv[2], retry: { retries: 0 } });
const out = {};

async function errorOf(p) {
  try {
    await p;
    return null;
  } catch (e) {
    return { name: e.name, status: e.status ?? null, message: String(e.message) };
  }
}

(async () => {
  // The tutorial's User schema, registered under an explicit subject; the
  // client sets the subject's level (BACKWARD, its default) on first use.
  const userAvsc = fs.readFileSync(path.join(__dirname, '..', 'tutorial', 'user.avsc'), 'utf8');
  const { id } = await registry.register({ type: SchemaType.AVRO, schema: userAvsc }, { subject: 'kjs-users-value' });
  out.avro_id = id;
  out.latest_id = await registry.getLatestSchemaId('kjs-users-value');
  out.version1_id = await registry.getRegistryId('kjs-users-value', 1);
  out.id_by_schema = await registry.getRegistryIdBySchema('kjs-users-value', { type: SchemaType.AVRO, schema: userAvsc });
  const user = { first_name: 'John', last_name: 'Doe', age: 30 };
  const encoded = await registry.encode(id, user);
  out.avro_encoded_hex = encoded.toString('hex');
  // A fresh client decodes by the id in the framing alone.
  const fresh = new SchemaRegistry({ host: process.argv[2], retry: { retries: 0 } });
  out.avro_decoded = await fresh.decode(encoded);

  // An incompatible change: a new field without a default (BACKWARD).
  const bad = JSON.parse(userAvsc);
  bad.fields.push({ name: 'email', type: 'string' });
  out.incompatible_error = await errorOf(registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(bad) }, { subject: 'kjs-users-value' }));
  // Registering with a level other than the subject's is refused by the client.
  out.level_mismatch_error = await errorOf(registry.register({ type: SchemaType.AVRO, schema: userAvsc }, { subject: 'kjs-users-value', compatibility: COMPATIBILITY.FULL }));
  // A compatible change gets the next id and becomes the latest.
  const good = JSON.parse(userAvsc);
  good.fields.push({ name: 'email', type: ['null', 'string'], default: null });
  const v2 = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(good) }, { subject: 'kjs-users-value' });
  out.avro_id_v2 = v2.id;
  out.latest_id_v2 = await registry.getLatestSchemaId('kjs-users-value');
  const encoded2 = await registry.encode(v2.id, { ...user, email: 'john@example.com' });
  out.avro_decoded_v2 = await fresh.decode(encoded2);
  // Old data read with the new schema as reader.
  out.avro_decoded_v1_as_v2 = await fresh.decode(encoded, { [SchemaType.AVRO]: { readerSchema: await fresh.getSchema(v2.id) } });
  out.missing_id_error = await errorOf(fresh.decode(Buffer.from([0, 0, 0, 0x7f, 0xff, 0])));

  // Protobuf from .proto text (the tutorial's my_protobuf.proto).
  const proto = fs.readFileSync(path.join(__dirname, '..', 'tutorial', 'my_protobuf.proto'), 'utf8');
  const p = await registry.register({ type: SchemaType.PROTOBUF, schema: proto }, { subject: 'kjs-proto-value' });
  const pbytes = await registry.encode(p.id, { id: 1, name: 'John Doe', age: 30 });
  out.protobuf = { id: p.id, hex: pbytes.toString('hex'), decoded: await fresh.decode(pbytes) };

  // JSON Schema.
  const js = JSON.stringify({ type: 'object', properties: { item: { type: 'string' }, qty: { type: 'integer' } }, required: ['item'] });
  const j = await registry.register({ type: SchemaType.JSON, schema: js }, { subject: 'kjs-json-value' });
  const jbytes = await registry.encode(j.id, { item: 'tea', qty: 3 });
  out.json = { id: j.id, payload: jbytes.subarray(5).toString(), decoded: await fresh.decode(jbytes) };
  out.json_invalid_error = await errorOf(registry.encode(j.id, { qty: 3 }));

  // References: an Avro record naming a type of another subject, and a
  // .proto importing another subject's file.
  const addr = JSON.stringify({ type: 'record', name: 'Address', namespace: 'ex', fields: [{ name: 'city', type: 'string' }] });
  await registry.register({ type: SchemaType.AVRO, schema: addr }, { subject: 'kjs-address' });
  const person = JSON.stringify({ type: 'record', name: 'Person', namespace: 'ex', fields: [{ name: 'name', type: 'string' }, { name: 'home', type: 'ex.Address' }] });
  const pr = await registry.register({ type: SchemaType.AVRO, schema: person, references: [{ name: 'ex.Address', subject: 'kjs-address', version: 1 }] }, { subject: 'kjs-people-value' });
  const pbytes2 = await registry.encode(pr.id, { name: 'Bob', home: { city: 'Rome' } });
  const money = 'syntax = "proto3"; package ex; message Money { int64 units = 1; }';
  await registry.register({ type: SchemaType.PROTOBUF, schema: money }, { subject: 'kjs-money.proto' });
  const order = 'syntax = "proto3"; package ex; import "money.proto"; message Order { int64 id = 1; Money total = 2; }';
  const or = await registry.register({ type: SchemaType.PROTOBUF, schema: order, references: [{ name: 'money.proto', subject: 'kjs-money.proto', version: 1 }] }, { subject: 'kjs-orders-value' });
  const obytes = await registry.encode(or.id, { id: 5, total: { units: 12 } });
  const fresh2 = new SchemaRegistry({ host: process.argv[2], retry: { retries: 0 } });
  out.references = {
    avro_id: pr.id, avro_hex: pbytes2.toString('hex'), avro_decoded: await fresh2.decode(pbytes2),
    proto_id: or.id, proto_hex: obytes.toString('hex'), proto_decoded: await fresh2.decode(obytes),
  };

  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
