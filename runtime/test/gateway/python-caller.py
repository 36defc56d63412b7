# A Python gRPC client (Debian's python3-grpcio) calling agents through the
# tunnel gateway with generic methods: bytes in, bytes out, no generated
# code. Run by python-client.test.ts as a child process; prints one JSON
# line per scenario.
import json
import sys

import grpc

address, key, gated_key, forbidden_key = sys.argv[1:5]


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def message(payload=b"", count=0, delay_millis=0):
    """A grpchantesting.Message: payload = 1, count = 2, delay_millis = 4."""
    out = b"\x0a" + varint(len(payload)) + payload
    if count:
        out += b"\x10" + varint(count)
    if delay_millis:
        out += b"\x20" + varint(delay_millis)
    return out


def payload_of(data):
    """Field 1 of a grpchantesting.Message (the first occurrence)."""
    i = 0
    while i < len(data):
        tag, i = data[i], i + 1
        if tag == 0x0A:
            length, shift = 0, 0
            while True:
                b, i = data[i], i + 1
                length |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            return data[i : i + length]
        if tag & 7 == 0:
            while data[i] & 0x80:
                i += 1
            i += 1
        else:
            raise ValueError("unexpected field")
    return b""


def report(scenario, **fields):
    print(json.dumps({"scenario": scenario, **fields}), flush=True)


def status_of(error):
    return {"code": error.code().name, "details": error.details()}


channel = grpc.insecure_channel(address)
unary = channel.unary_unary("/grpchantesting.TestService/Unary")
server_stream = channel.unary_stream("/grpchantesting.TestService/ServerStream")
keyed = [("tunnel-key", key)]

answer = unary(message(b"from python"), metadata=keyed, timeout=10)
report("unary", payload=payload_of(answer).decode())

payloads = [payload_of(m).decode() for m in server_stream(message(b"tick", count=4), metadata=keyed, timeout=10)]
report("server-streaming", payloads=payloads)

try:
    unary(message(b"slow", delay_millis=5000), metadata=keyed, timeout=0.3)
    report("deadline", code="OK")
except grpc.RpcError as error:
    report("deadline", **status_of(error))

call = server_stream(message(b"gated", count=3), metadata=[("tunnel-key", gated_key)], timeout=10)
first = payload_of(next(call)).decode()
call.cancel()
report("cancel", first=first, code=call.code().name)

try:
    unary(message(b"no"), metadata=[("tunnel-key", forbidden_key)], timeout=10)
    report("denied", code="OK")
except grpc.RpcError as error:
    report("denied", **status_of(error))

channel.close()
