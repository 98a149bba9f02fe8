// Confluent's JavaScript schema-registry client (@confluentinc/schemaregistry)
// against a sluice registry: the Avro, Protobuf and JSON Schema serializers
// register their schemas and their deserializers read the records back; the
// client's own calls (register, lookup, latest, by id, compatibility).
// Prints one JSON object; internal/compat/registry_npm_test.go asserts on it.
//
// Usage: node confluent.js REGISTRY_URL
'use strict';
const {
  SchemaRegistryClient, SerdeType,
  AvroSerializer, AvroDeserializer,
  ProtobufSerializer, ProtobufDeserializer,
  JsonSerializer, JsonDeserializer,
} = require('@confluentinc/schemaregistry');
const { create, createFileRegistry, toBinary } = require('@bufbuild/protobuf');
const { FileDescriptorProtoSchema, file_google_protobuf_timestamp, timestampFromMs } = require('@bufbuild/protobuf/wkt');
const fs = require('fs');
const path = require('path');

const url = process.argv[2];
const client = new SchemaRegistryClient({ baseURLs: [url], maxRetries: 0 });
const out = {};

// header returns the Confluent framing of an Avro/JSON payload: magic, id.
function header(buf) {
  return { magic: buf[0], id: buf.readUInt32BE(1) };
}

async function errorOf(p) {
  try {
    await p;
    return null;
  } catch (e) {
    return { status: e.status ?? null, code: e.errorCode ?? null, message: String(e.message) };
  }
}

async function avro() {
  // The tutorial's User (user.avsc) registered by the client, then written
  // by a serializer that uses the latest version of the subject.
  const userAvsc = fs.readFileSync(path.join(__dirname, '..', 'tutorial', 'user.avsc'), 'utf8');
  const id = await client.register('js-users-value', { schemaType: 'AVRO', schema: userAvsc });
  const latest = await client.getLatestSchemaMetadata('js-users-value');
  const ser = new AvroSerializer(client, SerdeType.VALUE, { useLatestVersion: true, autoRegisterSchemas: false });
  const deser = new AvroDeserializer(client, SerdeType.VALUE, {});
  const user = { first_name: 'John', last_name: 'Doe', age: 30 };
  const bytes = await ser.serialize('js-users', user);
  out.avro_user = {
    id, latest_id: latest.id, latest_version: latest.version,
    header: header(bytes), payload_hex: bytes.subarray(5).toString('hex'),
    decoded: await deser.deserialize('js-users', bytes),
  };

  // A serializer that registers the schema itself (derived from the value).
  const autoSer = new AvroSerializer(client, SerdeType.VALUE, { autoRegisterSchemas: true });
  const bytes2 = await autoSer.serialize('js-auto', { name: 'tea', qty: 3 });
  const reg = await client.getLatestSchemaMetadata('js-auto-value');
  out.avro_auto = {
    header: header(bytes2), registered_id: reg.id, registered_type: reg.schemaType ?? 'AVRO',
    schema: JSON.parse(reg.schema),
    decoded: await deser.deserialize('js-auto', bytes2),
  };

  // An incompatible change (BACKWARD: a new field without a default).
  const v2 = JSON.parse(userAvsc);
  v2.fields.push({ name: 'email', type: 'string' });
  out.avro_compatible_bad = await client.testSubjectCompatibility('js-users-value', { schemaType: 'AVRO', schema: JSON.stringify(v2) });
  out.avro_incompatible_error = await errorOf(client.register('js-users-value', { schemaType: 'AVRO', schema: JSON.stringify(v2) }));
  v2.fields[3].default = '';
  out.avro_compatible_good = await client.testSubjectCompatibility('js-users-value', { schemaType: 'AVRO', schema: JSON.stringify(v2) });
  out.avro_id_v2 = await client.register('js-users-value', { schemaType: 'AVRO', schema: JSON.stringify(v2) });
  out.avro_versions = await client.getAllVersions('js-users-value');
  out.avro_lookup_v1 = (await client.getIdFullResponse('js-users-value', { schemaType: 'AVRO', schema: userAvsc })).version;
  out.avro_by_id = JSON.parse((await client.getBySubjectAndId('', id)).schema).name;
  out.missing_subject_error = await errorOf(client.getLatestSchemaMetadata('nobody-value'));
  out.missing_id_error = await errorOf(client.getBySubjectAndId('', 999999));
}

async function protobuf() {
  // The tutorial's MyMessage (my_protobuf.proto), as a descriptor: the
  // serializer registers it as a base64 FileDescriptorProto, as Confluent's
  // clients do, and the deserializer rebuilds the message from the registry.
  const fdp = create(FileDescriptorProtoSchema, {
    name: 'my_protobuf.proto',
    package: 'tutorial',
    syntax: 'proto3',
    messageType: [{
      name: 'MyMessage',
      field: [
        { name: 'id', number: 1, label: 1, type: 5, jsonName: 'id' },
        { name: 'name', number: 2, label: 1, type: 9, jsonName: 'name' },
        { name: 'age', number: 3, label: 1, type: 5, jsonName: 'age' },
      ],
    }],
  });
  const reg = createFileRegistry(fdp, () => undefined);
  const desc = reg.getMessage('tutorial.MyMessage');
  const ser = new ProtobufSerializer(client, SerdeType.VALUE, { autoRegisterSchemas: true });
  ser.registry.add(desc);
  const msg = create(desc, { id: 1, name: 'John Doe', age: 30 });
  const bytes = await ser.serialize('js-proto', msg);
  const deser = new ProtobufDeserializer(client, SerdeType.VALUE, {});
  const back = await deser.deserialize('js-proto', bytes);
  const latest = await client.getLatestSchemaMetadata('js-proto-value');
  out.protobuf = {
    header_hex: bytes.subarray(0, 6).toString('hex'),
    payload_hex: bytes.subarray(6).toString('hex'),
    registered_id: latest.id, registered_type: latest.schemaType,
    registered_is_descriptor: Buffer.from(latest.schema, 'base64').equals(Buffer.from(toBinary(FileDescriptorProtoSchema, fdp))),
    decoded: { type: back.$typeName, id: back.id, name: back.name, age: back.age },
  };

  // A file that imports the tutorial's (a reference the serializer registers
  // under the subject my_protobuf.proto) and a well-known type (built in,
  // no reference); its second message, so the framing carries index [1].
  const orderFdp = create(FileDescriptorProtoSchema, {
    name: 'order.proto',
    package: 'tutorial',
    syntax: 'proto3',
    dependency: ['my_protobuf.proto', 'google/protobuf/timestamp.proto'],
    messageType: [
      { name: 'Note', field: [{ name: 'text', number: 1, label: 1, type: 9, jsonName: 'text' }] },
      {
        name: 'Order',
        field: [
          { name: 'user', number: 1, label: 1, type: 11, typeName: '.tutorial.MyMessage', jsonName: 'user' },
          { name: 'at', number: 2, label: 1, type: 11, typeName: '.google.protobuf.Timestamp', jsonName: 'at' },
          { name: 'items', number: 3, label: 3, type: 9, jsonName: 'items' },
        ],
      },
    ],
  });
  const files = { 'my_protobuf.proto': desc.file, 'google/protobuf/timestamp.proto': file_google_protobuf_timestamp };
  const orderReg = createFileRegistry(orderFdp, (name) => files[name]);
  const orderDesc = orderReg.getMessage('tutorial.Order');
  const ser2 = new ProtobufSerializer(client, SerdeType.VALUE, { autoRegisterSchemas: true });
  ser2.registry.add(orderDesc);
  const order = create(orderDesc, { user: create(desc, { id: 2, name: 'Jane Roe', age: 41 }), at: timestampFromMs(1700000000000), items: ['tea', 'cake'] });
  const obytes = await ser2.serialize('js-orders', order);
  const oback = await new ProtobufDeserializer(client, SerdeType.VALUE, {}).deserialize('js-orders', obytes);
  const olatest = await client.getLatestSchemaMetadata('js-orders-value');
  out.protobuf_order = {
    header_hex: obytes.subarray(0, 7).toString('hex'),
    registered_id: olatest.id,
    references: olatest.references,
    dep_id: (await client.getLatestSchemaMetadata('my_protobuf.proto')).id,
    decoded: {
      type: oback.$typeName, user: { id: oback.user.id, name: oback.user.name, age: oback.user.age },
      at_seconds: Number(oback.at.seconds), items: oback.items,
    },
  };
}

async function protobufText() {
  // The tutorial's .proto registered as text (as the Go and Python tools
  // and kafkajs register it); the serializer uses the latest version and
  // both sides ask the registry for it with ?format=serialized, which must
  // come back as a descriptor.
  const text = fs.readFileSync(path.join(__dirname, '..', 'tutorial', 'my_protobuf.proto'), 'utf8');
  const id = await client.register('js-proto-text-value', { schemaType: 'PROTOBUF', schema: text });
  const fdp = create(FileDescriptorProtoSchema, {
    name: 'my_protobuf.proto',
    syntax: 'proto3',
    messageType: [{
      name: 'MyMessage',
      field: [
        { name: 'id', number: 1, label: 1, type: 5, jsonName: 'id' },
        { name: 'name', number: 2, label: 1, type: 9, jsonName: 'name' },
        { name: 'age', number: 3, label: 1, type: 5, jsonName: 'age' },
      ],
    }],
  });
  const desc = createFileRegistry(fdp, () => undefined).getMessage('MyMessage');
  const ser = new ProtobufSerializer(client, SerdeType.VALUE, { useLatestVersion: true });
  ser.registry.add(desc);
  const bytes = await ser.serialize('js-proto-text', create(desc, { id: 7, name: 'Ada', age: 36 }));
  const back = await new ProtobufDeserializer(client, SerdeType.VALUE, {}).deserialize('js-proto-text', bytes);
  out.protobuf_text = {
    id, header_hex: bytes.subarray(0, 6).toString('hex'),
    decoded: { type: back.$typeName, id: back.id, name: back.name, age: back.age },
  };
}

async function jsonSchema() {
  const schema = {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'User', type: 'object',
    properties: { first_name: { type: 'string' }, last_name: { type: 'string' }, age: { type: 'integer', minimum: 0 } },
    required: ['first_name', 'last_name', 'age'],
  };
  const id = await client.register('js-json-value', { schemaType: 'JSON', schema: JSON.stringify(schema) });
  const ser = new JsonSerializer(client, SerdeType.VALUE, { useLatestVersion: true, autoRegisterSchemas: false, validate: true });
  const deser = new JsonDeserializer(client, SerdeType.VALUE, { validate: true });
  const user = { first_name: 'John', last_name: 'Doe', age: 30 };
  const bytes = await ser.serialize('js-json', user);
  const invalid = await errorOf(ser.serialize('js-json', { first_name: 'John', last_name: 'Doe', age: -1 }));
  // A serializer that registers the schema it derives from the value.
  const autoSer = new JsonSerializer(client, SerdeType.VALUE, { autoRegisterSchemas: true });
  const bytes2 = await autoSer.serialize('js-json-auto', { item: 'tea', qty: 3 });
  const auto = await client.getLatestSchemaMetadata('js-json-auto-value');
  out.json = {
    id, header: header(bytes), payload: bytes.subarray(5).toString(),
    decoded: await deser.deserialize('js-json', bytes),
    invalid_rejected: invalid !== null,
    auto_header: header(bytes2), auto_registered_id: auto.id, auto_registered_type: auto.schemaType,
    auto_decoded: await new JsonDeserializer(client, SerdeType.VALUE, {}).deserialize('js-json-auto', bytes2),
  };
}

async function references() {
  // Avro: Person refers to ex.Address, registered under its own subject.
  const addr = JSON.stringify({ type: 'record', name: 'Address', namespace: 'ex', fields: [{ name: 'city', type: 'string' }] });
  const addrID = await client.register('js-address', { schemaType: 'AVRO', schema: addr });
  const person = JSON.stringify({ type: 'record', name: 'Person', namespace: 'ex', fields: [{ name: 'name', type: 'string' }, { name: 'home', type: 'ex.Address' }] });
  const personID = await client.register('js-people-value', { schemaType: 'AVRO', schema: person, references: [{ name: 'ex.Address', subject: 'js-address', version: 1 }] });
  const aser = new AvroSerializer(client, SerdeType.VALUE, { useLatestVersion: true });
  const abytes = await aser.serialize('js-people', { name: 'Ann', home: { city: 'Oslo' } });
  // JSON Schema: a $ref to another subject's schema by its name.
  const jaddr = JSON.stringify({ $id: 'address.json', type: 'object', properties: { city: { type: 'string' } }, required: ['city'] });
  const jaddrID = await client.register('js-jaddress', { schemaType: 'JSON', schema: jaddr });
  const jperson = JSON.stringify({ type: 'object', properties: { name: { type: 'string' }, home: { $ref: 'address.json' } }, required: ['name', 'home'] });
  const jpersonID = await client.register('js-jpeople-value', { schemaType: 'JSON', schema: jperson, references: [{ name: 'address.json', subject: 'js-jaddress', version: 1 }] });
  const jser = new JsonSerializer(client, SerdeType.VALUE, { useLatestVersion: true, validate: true });
  const jbytes = await jser.serialize('js-jpeople', { name: 'Ann', home: { city: 'Oslo' } });
  out.references = {
    ids: [addrID, personID, jaddrID, jpersonID],
    avro_hex: abytes.toString('hex'),
    avro_decoded: await new AvroDeserializer(client, SerdeType.VALUE, {}).deserialize('js-people', abytes),
    json_decoded: await new JsonDeserializer(client, SerdeType.VALUE, { validate: true }).deserialize('js-jpeople', jbytes),
    // The referenced schema's rule applies: home without city is invalid.
    json_invalid_rejected: (await errorOf(jser.serialize('js-jpeople', { name: 'Ann', home: {} }))) !== null,
    // A referenced subject cannot be deleted (42206).
    delete_referenced_error: await errorOf(client.deleteSubject('js-address')),
  };
}

(async () => {
  await avro();
  await protobuf();
  await jsonSchema();
  await protobufText();
  await references();
  out.subjects = (await client.getAllSubjects()).sort();
  console.log(JSON.stringify(out));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
