"""Create, describe and delete ACLs with confluent-kafka's engine.

With confluent-kafka-python >= 1.9 this uses AdminClient.create_acls,
describe_acls and delete_acls. Older bindings (Debian's 1.7) lack those
methods, so the same librdkafka the binding loads is driven directly
through its C admin API (rd_kafka_CreateAcls and friends) with ctypes.

Usage: ck_acls.py BOOTSTRAP MODE, MODE "roundtrip" (create three ACLs, one
of them invalid, describe, delete one by filter, describe) or "describe".
Prints one JSON object on stdout.
"""
import ctypes
import json
import sys

import confluent_kafka
from confluent_kafka import admin

# Kafka's enum values (the same on the wire and in librdkafka).
TOPIC, GROUP = 2, 3
ANY, MATCH, LITERAL, PREFIXED = 1, 2, 3, 4
OP_ANY, OP_READ, OP_WRITE = 1, 3, 4
PERM_ANY, DENY, ALLOW = 1, 2, 3

CREATE = [
    (TOPIC, "ck-orders", LITERAL, "User:alice", "*", OP_READ, ALLOW),
    (GROUP, "ck-", PREFIXED, "User:alice", "*", OP_READ, ALLOW),
    (TOPIC, "ck-secret-", PREFIXED, "User:bob", "10.1.2.3", OP_WRITE, DENY),
]
BAD = (TOPIC, "ck-bad", LITERAL, "no-colon", "*", OP_READ, ALLOW)
ALL = (ANY, None, ANY, None, None, OP_ANY, PERM_ANY)
DELETE = (TOPIC, "ck-orders", LITERAL, None, None, OP_ANY, PERM_ANY)


class Binding:
    def roundtrip(self):
        errs = self.create(CREATE + [BAD])
        before = self.describe(ALL)
        deleted = self.delete(DELETE)
        after = self.describe(ALL)
        return {"create_errors": errs, "before": before, "deleted": deleted, "after": after}


class Python(Binding):
    """confluent-kafka-python's AdminClient (1.9+)."""

    def __init__(self, bootstrap):
        self.a = admin.AdminClient({"bootstrap.servers": bootstrap})

    @staticmethod
    def binding(t, cls):
        return cls(admin.ResourceType(t[0]), t[1], admin.ResourcePatternType(t[2]), t[3], t[4],
                   admin.AclOperation(t[5]), admin.AclPermissionType(t[6]))

    @staticmethod
    def row(b):
        return [b.restype.value, b.name, b.resource_pattern_type.value, b.principal, b.host, b.operation.value, b.permission_type.value]

    def create(self, acls):
        errs = []
        try:
            fs = self.a.create_acls([self.binding(t, admin.AclBinding) for t in acls])
        except Exception as e:  # the binding validates the principal itself
            fs = self.a.create_acls([self.binding(t, admin.AclBinding) for t in acls[:-1]])
            errs.append("client: " + type(e).__name__)
        for f in fs.values():
            try:
                f.result()
                errs.append(None)
            except Exception as e:
                errs.append(str(e))
        return errs

    def describe(self, flt):
        return sorted(self.row(b) for b in self.a.describe_acls(self.binding(flt, admin.AclBindingFilter)).result())

    def delete(self, flt):
        fs = self.a.delete_acls([self.binding(flt, admin.AclBindingFilter)])
        return sorted(self.row(b) for f in fs.values() for b in f.result())


class C(Binding):
    """librdkafka's C admin API through ctypes."""

    def __init__(self, bootstrap):
        lib = ctypes.CDLL("librdkafka.so.1")
        vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        for name, res, args in [
            ("rd_kafka_conf_new", vp, []),
            ("rd_kafka_conf_set", ctypes.c_int, [vp, cp, cp, cp, sz]),
            ("rd_kafka_new", vp, [ctypes.c_int, vp, cp, sz]),
            ("rd_kafka_queue_new", vp, [vp]),
            ("rd_kafka_queue_poll", vp, [vp, ctypes.c_int]),
            ("rd_kafka_event_error", ctypes.c_int, [vp]),
            ("rd_kafka_event_error_string", cp, [vp]),
            ("rd_kafka_event_destroy", None, [vp]),
            ("rd_kafka_AclBinding_new", vp, [ctypes.c_int, cp, ctypes.c_int, cp, cp, ctypes.c_int, ctypes.c_int, cp, sz]),
            ("rd_kafka_AclBindingFilter_new", vp, [ctypes.c_int, cp, ctypes.c_int, cp, cp, ctypes.c_int, ctypes.c_int, cp, sz]),
            ("rd_kafka_CreateAcls", None, [vp, ctypes.POINTER(vp), sz, vp, vp]),
            ("rd_kafka_event_CreateAcls_result", vp, [vp]),
            ("rd_kafka_CreateAcls_result_acls", ctypes.POINTER(vp), [vp, ctypes.POINTER(sz)]),
            ("rd_kafka_acl_result_error", vp, [vp]),
            ("rd_kafka_error_code", ctypes.c_int, [vp]),
            ("rd_kafka_error_string", cp, [vp]),
            ("rd_kafka_DescribeAcls", None, [vp, vp, vp, vp]),
            ("rd_kafka_event_DescribeAcls_result", vp, [vp]),
            ("rd_kafka_DescribeAcls_result_acls", ctypes.POINTER(vp), [vp, ctypes.POINTER(sz)]),
            ("rd_kafka_DeleteAcls", None, [vp, ctypes.POINTER(vp), sz, vp, vp]),
            ("rd_kafka_event_DeleteAcls_result", vp, [vp]),
            ("rd_kafka_DeleteAcls_result_responses", ctypes.POINTER(vp), [vp, ctypes.POINTER(sz)]),
            ("rd_kafka_DeleteAcls_result_response_error", vp, [vp]),
            ("rd_kafka_DeleteAcls_result_response_matching_acls", ctypes.POINTER(vp), [vp, ctypes.POINTER(sz)]),
            ("rd_kafka_AclBinding_restype", ctypes.c_int, [vp]),
            ("rd_kafka_AclBinding_name", cp, [vp]),
            ("rd_kafka_AclBinding_resource_pattern_type", ctypes.c_int, [vp]),
            ("rd_kafka_AclBinding_principal", cp, [vp]),
            ("rd_kafka_AclBinding_host", cp, [vp]),
            ("rd_kafka_AclBinding_operation", ctypes.c_int, [vp]),
            ("rd_kafka_AclBinding_permission_type", ctypes.c_int, [vp]),
        ]:
            f = getattr(lib, name)
            f.restype, f.argtypes = res, args
        self.lib = lib
        self.err = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        if lib.rd_kafka_conf_set(conf, b"bootstrap.servers", bootstrap.encode(), self.err, 512) != 0:
            raise RuntimeError(self.err.value)
        self.rk = lib.rd_kafka_new(0, conf, self.err, 512)  # a producer handle
        if not self.rk:
            raise RuntimeError(self.err.value)
        self.q = lib.rd_kafka_queue_new(self.rk)

    def new(self, t, ctor):
        enc = lambda s: None if s is None else s.encode()
        b = ctor(t[0], enc(t[1]), t[2], enc(t[3]), enc(t[4]), t[5], t[6], self.err, 512)
        if not b:
            raise RuntimeError(self.err.value)
        return b

    def wait(self):
        ev = self.lib.rd_kafka_queue_poll(self.q, 30000)
        if not ev:
            raise RuntimeError("no admin result within 30s")
        if self.lib.rd_kafka_event_error(ev):
            raise RuntimeError(self.lib.rd_kafka_event_error_string(ev))
        return ev

    def row(self, b):
        l = self.lib
        s = lambda p: None if p is None else p.decode()
        return [l.rd_kafka_AclBinding_restype(b), s(l.rd_kafka_AclBinding_name(b)), l.rd_kafka_AclBinding_resource_pattern_type(b),
                s(l.rd_kafka_AclBinding_principal(b)), s(l.rd_kafka_AclBinding_host(b)),
                l.rd_kafka_AclBinding_operation(b), l.rd_kafka_AclBinding_permission_type(b)]

    def errstr(self, e):
        return None if not e else "%s (%d)" % (self.lib.rd_kafka_error_string(e).decode(), self.lib.rd_kafka_error_code(e))

    def create(self, acls):
        arr = (ctypes.c_void_p * len(acls))(*[self.new(t, self.lib.rd_kafka_AclBinding_new) for t in acls])
        self.lib.rd_kafka_CreateAcls(self.rk, arr, len(acls), None, self.q)
        ev = self.wait()
        n = ctypes.c_size_t()
        res = self.lib.rd_kafka_CreateAcls_result_acls(self.lib.rd_kafka_event_CreateAcls_result(ev), ctypes.byref(n))
        out = [self.errstr(self.lib.rd_kafka_acl_result_error(res[i])) for i in range(n.value)]
        self.lib.rd_kafka_event_destroy(ev)
        return out

    def describe(self, flt):
        self.lib.rd_kafka_DescribeAcls(self.rk, self.new(flt, self.lib.rd_kafka_AclBindingFilter_new), None, self.q)
        ev = self.wait()
        n = ctypes.c_size_t()
        res = self.lib.rd_kafka_event_DescribeAcls_result(ev)
        acls = self.lib.rd_kafka_DescribeAcls_result_acls(res, ctypes.byref(n))
        out = sorted(self.row(acls[i]) for i in range(n.value))
        self.lib.rd_kafka_event_destroy(ev)
        return out

    def delete(self, flt):
        arr = (ctypes.c_void_p * 1)(self.new(flt, self.lib.rd_kafka_AclBindingFilter_new))
        self.lib.rd_kafka_DeleteAcls(self.rk, arr, 1, None, self.q)
        ev = self.wait()
        n, m = ctypes.c_size_t(), ctypes.c_size_t()
        resps = self.lib.rd_kafka_DeleteAcls_result_responses(self.lib.rd_kafka_event_DeleteAcls_result(ev), ctypes.byref(n))
        out = []
        for i in range(n.value):
            e = self.lib.rd_kafka_DeleteAcls_result_response_error(resps[i])
            if e:
                raise RuntimeError(self.errstr(e))
            acls = self.lib.rd_kafka_DeleteAcls_result_response_matching_acls(resps[i], ctypes.byref(m))
            out += [self.row(acls[j]) for j in range(m.value)]
        self.lib.rd_kafka_event_destroy(ev)
        return sorted(out)


def main():
    bootstrap, mode = sys.argv[1], sys.argv[2]
    b = Python(bootstrap) if hasattr(admin.AdminClient, "create_acls") else C(bootstrap)
    res = b.roundtrip() if mode == "roundtrip" else {"after": b.describe(ALL)}
    res["api"] = type(b).__name__
    res["versions"] = [confluent_kafka.version()[0], confluent_kafka.libversion()[0]]
    print(json.dumps(res))


main()
