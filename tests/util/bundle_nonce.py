"""Test-only: a model bundle made unique (or marked) without changing what
it serves.

The registry accepts only model bundles (services/registry/artifact_check.h),
so tests that need many distinct artifacts, or an artifact holding a known
marker, append an unknown field to the bundle's message and recompute its
CRC-32C. The format (lib/model/bundle.h): "CTMBNDL1", the serialized
ModelBundle, the CRC-32C (Castagnoli) of everything before it as 4 bytes,
little-endian. Protobuf keeps unknown fields, so the bundle still parses and
validates as before.

As a program: bundle_nonce.py IN OUT TEXT [REPEAT] writes IN with TEXT
(REPEAT times over, default once) added to OUT.
"""
import sys

_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# A field number no ModelBundle field uses.
_FIELD = 1999


def with_nonce(bundle, nonce):
    """`bundle` (bytes) with `nonce` (bytes or str) as an unknown field."""
    if isinstance(nonce, str):
        nonce = nonce.encode()
    if not bundle.startswith(b"CTMBNDL1"):
        raise ValueError("not a model bundle")
    body = bundle[:-4] + _varint((_FIELD << 3) | 2) + _varint(len(nonce)) + nonce
    return body + crc32c(body).to_bytes(4, "little")


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    with open(sys.argv[2], "wb") as f:
        repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 1
        f.write(with_nonce(data, sys.argv[3] * repeat))
