#!/usr/bin/env python3
"""A second implementation of cairn's wire formats, written from
protocol-spec/ (not from the Rust source), that recomputes what the vector
files state and fails on any disagreement.

    python3 interop/python/cairn_check.py [protocol-spec/vectors]

What it recomputes, per file (each section names the spec it follows):

* identity.json  - keys derived from a seed, onion address, recovery string
                   and its 37 bytes (identity.md);
* message.json   - postcard decoding of signed messages, the canonical-form
                   and shape rules, ZIP-215 signatures, ids; each invalid
                   case's error (wire.md, chain.md, crypto.md);
* envelope.json  - epoch keys, envelope checks, XChaCha20-Poly1305 opening,
                   fragment parsing; each invalid case's error (wire.md);
* keyfile.json   - passphrase bytes (NFC), Argon2id, the sealed secrets
                   (identity.md);
* pow.json       - the proof-of-work hash and its leading zero bits
                   (relay.md);
* bodies.json    - every body (indexes 0-24) decoded from group.md's byte
                   tables to the recorded value, and every limit's reason;
* zip215.json    - this file's verifier's verdict, the strong-key check and
                   a cofactorless (strict) verdict for each edge case;
* rng.json       - the deterministic test RNG's stream;
* fragments.json - a three-fragment message split and reassembled, each
                   fragment error, a conflict (wire.md);
* invite.json    - an invite string decoded and encoded again, its id, the
                   join proof and short code, refused strings (peer.md);
* relay.json     - a relay session's frames both ways decoded from
                   relay.md's grammar;
* chain.json     - the contextual chain rules (chain.md) run by this file's
                   own chain on a sequence of messages, an equivocation
                   proof and proofs a third party refuses;
* peer_messages.json - every peer message (resync exchange, join messages)
                   decoded from peer.md's grammar;
* peer.json      - a peer session regenerated frame by frame from the two
                   seeds and the RNG: hellos, transcript, handshake and
                   session keys, both signatures of the responder, the
                   initiator's, sealed frames (peer.md);
* keys.json      - key-package ids, a rekey (every recipient opens it, the
                   dummy pads it, its confirmation), the role-key ratchet,
                   a grant, content sealed to two roles (keys.md);
* seal.json      - sealing to an x25519 key, regenerated from the RNG, and
                   opened; the envelope and key file are regenerated from
                   their RNG seeds too, byte for byte;
* fold/*.json    - every message decoded whole and checked by every
                   context-free rule, and its id; the state hash of the
                   final state's encoding (group.md). The verdicts
                   themselves are not recomputed yet (no fold here).

Signatures are checked with this file's own ZIP-215 rule (cofactored,
non-canonical encodings accepted), not with a library: libsodium and
OpenSSL verify more strictly and would disagree (crypto.md).
"""

import hashlib
import json
import pathlib
import sys
import unicodedata

import blake3
from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
    return cond


def derive_key(context, material):
    return blake3.blake3(material, derive_key_context=context).digest()


# ---------------------------------------------------------------- ed25519
# crypto.md, "The one validity rule (ZIP-215)". Extended twisted Edwards
# coordinates over GF(2^255 - 19).

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (0, 1, 1, 0)


def point_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * D * t1 * t2 % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def scalar_mult(k, point):
    out = IDENTITY
    while k:
        if k & 1:
            out = point_add(out, point)
        point = point_add(point, point)
        k >>= 1
    return out


def same_point(a, b):
    x1, y1, z1, _ = a
    x2, y2, z2, _ = b
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def decode_point(raw, canonical_only=False):
    """A point from 32 bytes; ZIP-215 accepts y >= p (reduced) and the sign
    bit on x = 0 unless `canonical_only`. None if no point has that y."""
    n = int.from_bytes(raw, "little")
    sign, y = n >> 255, n & ((1 << 255) - 1)
    if canonical_only and y >= P:
        return None
    y %= P
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = (u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P)) % P
    if (v * x * x - u) % P != 0:
        x = x * SQRT_M1 % P
        if (v * x * x - u) % P != 0:
            return None
    if x == 0 and sign and canonical_only:
        return None
    if x & 1 != sign:
        x = (P - x) % P
    return (x, y, 1, x * y % P)


def encode_point(point):
    x, y, z, _ = point
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


BASE = decode_point((4 * pow(5, P - 2, P) % P).to_bytes(32, "little"))


def zip215_verify(public, message, signature):
    if len(signature) != 64 or len(public) != 32:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    a, r = decode_point(public), decode_point(signature[:32])
    if a is None or r is None:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    left = scalar_mult(8, scalar_mult(s, BASE))
    right = scalar_mult(8, point_add(r, scalar_mult(k, a)))
    return same_point(left, right)


def is_strong(public):
    """crypto.md, "Strong keys": the canonical encoding of a point not of
    small order."""
    point = decode_point(public, canonical_only=True)
    if point is None or encode_point(point) != public:
        return False
    return not same_point(scalar_mult(8, point), IDENTITY)


def ed25519_sign(secret, message):
    """RFC 8032 signing (deterministic), to regenerate vectors."""
    h = hashlib.sha512(secret).digest()
    a = bytearray(h[:32])
    a[0] &= 248
    a[31] &= 127
    a[31] |= 64
    scalar = int.from_bytes(a, "little")
    public = encode_point(scalar_mult(scalar, BASE))
    r = int.from_bytes(hashlib.sha512(h[32:] + message).digest(), "little") % L
    big_r = encode_point(scalar_mult(r, BASE))
    k = int.from_bytes(hashlib.sha512(big_r + public + message).digest(), "little") % L
    return big_r + ((r + k * scalar) % L).to_bytes(32, "little")


def ed25519_public(secret):
    """RFC 8032 public key of a 32-byte secret (identity.md)."""
    h = bytearray(hashlib.sha512(secret).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return encode_point(scalar_mult(int.from_bytes(h, "little"), BASE))


# ---------------------------------------------------------------- XChaCha20

def _quarter(s, a, b, c, d):
    m = 0xFFFFFFFF
    s[a] = (s[a] + s[b]) & m; s[d] ^= s[a]; s[d] = ((s[d] << 16) | (s[d] >> 16)) & m
    s[c] = (s[c] + s[d]) & m; s[b] ^= s[c]; s[b] = ((s[b] << 12) | (s[b] >> 20)) & m
    s[a] = (s[a] + s[b]) & m; s[d] ^= s[a]; s[d] = ((s[d] << 8) | (s[d] >> 24)) & m
    s[c] = (s[c] + s[d]) & m; s[b] ^= s[c]; s[b] = ((s[b] << 7) | (s[b] >> 25)) & m


def hchacha20(key, nonce16):
    words = lambda b: [int.from_bytes(b[i:i + 4], "little") for i in range(0, len(b), 4)]
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574] + words(key) + words(nonce16)
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12); _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14); _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15); _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13); _quarter(s, 3, 4, 9, 14)
    return b"".join(w.to_bytes(4, "little") for w in s[0:4] + s[12:16])


def xchacha_seal(key, nonce24, plain, aad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0\0\0\0" + nonce24[16:], plain, aad)


class XofRng:
    """crypto.md, "Randomness": the BLAKE3 XOF of the derive_key hasher
    with the test-RNG context over the seed; bytes are taken in order."""

    def __init__(self, seed):
        self.seed, self.used = seed, 0

    def take(self, n):
        stream = blake3.blake3(self.seed, derive_key_context="cairn 2026 deterministic test rng v1")
        out = stream.digest(length=self.used + n)[self.used:]
        self.used += n
        return out


def xchacha_open(key, nonce24, sealed, aad):
    """XChaCha20-Poly1305 (crypto.md): HChaCha20 subkey, then the IETF AEAD
    with nonce 0000 ‖ nonce[16..24]. None if it does not open."""
    sub = hchacha20(key, nonce24[:16])
    try:
        return ChaCha20Poly1305(sub).decrypt(b"\0\0\0\0" + nonce24[16:], sealed, aad)
    except Exception:  # the library's InvalidTag
        return None


# ---------------------------------------------------------------- postcard

class DecodeError(Exception):
    pass


class Reader:
    """postcard (wire.md): LEB128 varints (canonical: no trailing zero
    group), byte strings and strings as varint length ‖ bytes."""

    def __init__(self, data):
        self.data, self.at = data, 0
        self.noncanonical = False

    def take(self, n):
        if self.at + n > len(self.data):
            raise DecodeError("Incomplete")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def varint(self, bits=64):
        value, shift = 0, 0
        for i in range((bits + 6) // 7):
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                if b == 0 and i > 0:
                    self.noncanonical = True
                if value >= 1 << bits:
                    raise DecodeError("Malformed")
                return value
            shift += 7
        raise DecodeError("Malformed")

    def fixed(self, n):
        # The declared bytes are read first (input ending inside them is
        # Incomplete), then a length other than n is Malformed (wire.md).
        raw = self.take(self.varint())
        if len(raw) != n:
            raise DecodeError("Malformed")
        return raw

    def option(self, read):
        tag = self.take(1)[0]
        if tag > 1:
            raise DecodeError("Malformed")
        return read() if tag else None

    def string(self):
        raw = self.take(self.varint())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("Malformed")


MAX_MESSAGE = 117_952

# group.md, "Body encodings, byte by byte": each body's fields in order.
STRUCTS = {
    "Rekey": [("replaces", "K32"), ("wraps", ("Vec", "Wrap")), ("confirmation", "K32")],
    "Wrap": [("to", "K32"), ("sealed", "Bytes")],
    "KeyPackage": [("group", "K32"), ("x25519", "K32")],
    "RoleKeyGrant": [("role", "String"), ("epoch", "K32"), ("wraps", ("Vec", "Wrap")),
                     ("confirmation", "K32")],
    # keys.md, "Sealed content".
    "RoleWrap": [("role", "String"), ("epoch", "K32"), ("sealed_key", "Bytes")],
    "SealedContent": [("epoch", "K32"), ("wraps", ("Vec", "RoleWrap")), ("ciphertext", "Bytes")],
}
BODIES = [
    ("Genesis", [("name", "String"), ("rules", "Bytes")]),
    ("Chat", [("text", "String"), ("reply_to", ("Option", "K32"))]),
    ("TaskCreate", [("readable_by", ("Vec", "String")), ("assignees", ("Vec", "K32")),
                    ("content", "Bytes")]),
    ("TaskEdit", [("task", "K32"), ("readable_by", ("Vec", "String")), ("content", "Bytes")]),
    ("TaskAssign", [("task", "K32"), ("assign", ("Vec", "K32")), ("unassign", ("Vec", "K32"))]),
    ("TaskComment", [("task", "K32"), ("reply_to", ("Option", "K32")), ("content", "Bytes")]),
    ("TaskClose", [("task", "K32")]),
    ("TaskReopen", [("task", "K32")]),
    ("RuleChange", [("rules", "Bytes")]),
    ("RoleAssign", [("member", "K32"), ("role", "String")]),
    ("RoleRevoke", [("member", "K32"), ("role", "String"), ("rekey", ("Option", "Rekey"))]),
    ("MemberAdd", [("member", "K32"), ("roles", ("Vec", "String")), ("rekey", ("Option", "Rekey")),
                   ("invite", ("Option", "K32"))]),
    ("MemberRemove", [("member", "K32"), ("rekey", ("Option", "Rekey"))]),
    ("Leave", None),
    ("Rekey", "Rekey"),
    ("KeyPackage", "KeyPackage"),
    ("RelayListChange", [("relays", ("Vec", "String"))]),
    ("RoleKeyGrant", "RoleKeyGrant"),
    ("Contact", [("onion", "K32")]),
    ("Name", [("name", "String")]),
    ("KeyRequest", [("epoch", "K32"), ("key_package", "KeyPackage")]),
    ("EpochRewrap", [("epoch", "K32"), ("rekey", "Rekey")]),
    ("Invitation", [("id", "K32"), ("content", "Bytes")]),
    ("JoinPending", [("invite", "K32"), ("content", "Bytes")]),
    ("JoinDeclined", [("invite", "K32"), ("member", "K32")]),
]


def read_value(r, t):
    """One value of type `t`, as serde's JSON would show it: byte fields as
    lists of numbers, structs as dicts."""
    if t == "K32":
        return list(r.fixed(32))
    if t == "Bytes":
        return list(r.take(r.varint()))
    if t == "String":
        return r.string()
    if isinstance(t, tuple) and t[0] == "Vec":
        return [read_value(r, t[1]) for _ in range(r.varint())]
    if isinstance(t, tuple) and t[0] == "Option":
        return r.option(lambda: read_value(r, t[1]))
    return read_fields(r, STRUCTS[t])


def read_fields(r, fields):
    return {name: read_value(r, t) for name, t in fields}


def read_body(r):
    index = r.varint(32)
    if index >= len(BODIES):
        raise DecodeError("Malformed")
    name, shape = BODIES[index]
    if shape is None:
        return name
    if isinstance(shape, str):
        return {name: read_value(r, shape)}
    return {name: read_fields(r, shape)}


FORBIDDEN_IN_NAME = set(range(0x20)) | set(range(0x7F, 0xA0)) | {0x61C, 0x200E, 0x200F} \
    | set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A))


def body_limit(body):
    """group.md's limits, in order; the reason or None."""
    if body == "Leave":
        return None
    (name, f), = body.items()
    size = lambda s: len(s.encode("utf-8")) if isinstance(s, str) else len(s)

    def roles(rs):
        if len(rs) > 32:
            return "too many roles"
        if any(size(x) > 32 for x in rs):
            return "role name too long"
        return None

    def wraps(ws):
        if not ws:
            return "no wraps"
        if len(ws) > 512:
            return "too many wraps"
        if len(ws) & (len(ws) - 1):
            return "wrap count is not a power of two"
        if any(a["to"] >= b["to"] for a, b in zip(ws, ws[1:])):
            return "wrap recipients not strictly ascending"
        if any(len(w["sealed"]) != 104 for w in ws):
            return "wrap of the wrong length"
        return None

    sealed = lambda c: "sealed content too long" if len(c) > 65536 else None
    rekey = lambda rk: wraps(rk["wraps"]) if rk is not None else None
    first = lambda *checks: next((c for c in checks if c), None)
    if name == "Genesis":
        return first(size(f["name"]) > 128 and "genesis name too long",
                     len(f["rules"]) > 16384 and "rules too long")
    if name == "Chat":
        return "chat text too long" if size(f["text"]) > 16384 else None
    if name == "Name":
        return first(size(f["name"]) > 64 and "member name too long",
                     any(ord(c) in FORBIDDEN_IN_NAME for c in f["name"])
                     and "control character in a member name")
    if name == "TaskCreate":
        return first(roles(f["readable_by"]), len(f["assignees"]) > 64 and "too many assignees",
                     sealed(f["content"]))
    if name == "TaskEdit":
        return first(roles(f["readable_by"]), sealed(f["content"]))
    if name == "TaskAssign":
        return "too many assignees" if max(len(f["assign"]), len(f["unassign"])) > 64 else None
    if name in ("TaskComment", "Invitation", "JoinPending"):
        return sealed(f["content"])
    if name == "RuleChange":
        return "rules too long" if len(f["rules"]) > 16384 else None
    if name == "RoleAssign":
        return roles([f["role"]])
    if name == "RoleRevoke":
        return first(roles([f["role"]]), rekey(f["rekey"]))
    if name == "MemberAdd":
        return first(roles(f["roles"]), rekey(f["rekey"]))
    if name == "MemberRemove":
        return rekey(f["rekey"])
    if name == "Rekey":
        return rekey(f)
    if name == "EpochRewrap":
        return rekey(f["rekey"])
    if name == "RoleKeyGrant":
        return first(not f["role"] and "empty role name", size(f["role"]) > 32 and "role name too long",
                     wraps(f["wraps"]))
    if name == "RelayListChange":
        return first(len(f["relays"]) > 16 and "too many relays",
                     any(size(a) > 256 for a in f["relays"]) and "relay address too long")
    return None


def read_signed(r):
    """One signed message from `r`: its fields, unsigned bytes, signature."""
    start = r.at
    if r.take(1)[0] != 1:
        raise DecodeError("UnknownVersion")
    m = {"version": 1}
    m["group"], m["epoch"], m["author"] = r.fixed(32), r.fixed(32), r.fixed(32)
    m["seq"] = r.varint()
    m["prev"] = r.option(lambda: r.fixed(32))
    m["parents"] = [r.fixed(32) for _ in range(r.varint())]
    m["lamport"], m["minute"] = r.varint(), r.varint()
    m["body"] = read_body(r)
    unsigned = r.data[start:r.at]
    return m, unsigned, r.fixed(64)


def decode_signed(raw):
    """wire.md, "Decoding, in order": the fields of a signed message (its
    body by group.md's byte tables), the unsigned encoding and the
    signature."""
    if len(raw) > MAX_MESSAGE:
        raise DecodeError("TooLarge")
    if not raw:
        raise DecodeError("Incomplete")
    if raw[0] != 1:
        raise DecodeError("UnknownVersion")
    r = Reader(raw)
    m, unsigned, signature = read_signed(r)
    if r.at != len(raw):
        raise DecodeError("TrailingBytes")
    if r.noncanonical:
        raise DecodeError("NonCanonical")
    return m, unsigned, signature


def message_id(unsigned):
    return derive_key("cairn 2026 message id v1", unsigned)


def verify_message(raw):
    """chain.md's context-free rules 1-9 in order; the id, or the error."""
    try:
        m, unsigned, signature = decode_signed(raw)
    except DecodeError as e:
        return None, "Decode." + str(e)
    parents = m["parents"]
    if len(parents) > 16:
        return None, "TooManyParents"
    if any(a >= b for a, b in zip(parents, parents[1:])):
        return None, "ParentsNotSorted"
    if (m["prev"] is None) != (m["seq"] == 0):
        return None, "PrevPresence"
    if m["prev"] is not None and m["prev"] not in parents:
        return None, "PrevNotAParent"
    genesis = isinstance(m["body"], dict) and "Genesis" in m["body"]
    if body_limit(m["body"]):
        return None, "BodyLimit"
    if genesis and (m["seq"] > 0 or parents or m["lamport"] > 0 or any(m["epoch"])):
        return None, "GenesisShape"
    if not genesis and not parents:
        return None, "GenesisShape"
    if not is_strong(m["author"]):
        return None, "WeakAuthorKey"
    if not zip215_verify(m["author"], b"cairn message v1\0" + unsigned, signature):
        return None, "BadSignature"
    return message_id(unsigned), None


# ---------------------------------------------------------------- files

def hx(s):
    return bytes.fromhex(s)


def check_identity(v):
    crockford = "0123456789abcdefghjkmnpqrstvwxyz"
    for case in v["cases"]:
        seed = hx(case["seed"])
        signing = derive_key("cairn 2026 identity v1 ed25519 signing key", seed)
        onion = derive_key("cairn 2026 identity v1 onion service ed25519 key", seed)
        hand = derive_key("cairn 2026 identity v1 x25519 peer channel key", seed)
        check(ed25519_public(signing).hex() == case["signing_public"], "identity: signing key")
        onion_public = ed25519_public(onion)
        check(onion_public.hex() == case["onion_public"], "identity: onion key")
        x = X25519PrivateKey.from_private_bytes(hand).public_key()
        check(x.public_bytes(Encoding.Raw, PublicFormat.Raw).hex() == case["x25519_public"],
              "identity: x25519 key")
        import base64
        checksum = hashlib.sha3_256(b".onion checksum" + onion_public + b"\x03").digest()[:2]
        address = base64.b32encode(onion_public + checksum + b"\x03").decode().lower() + ".onion"
        check(address == case["onion_address"], "identity: onion address")
        body = b"\x01" + seed
        full = body + derive_key("cairn 2026 recovery string v1 checksum", body)[:4]
        check(full.hex() == case["recovery_bytes"], "identity: recovery bytes")
        bits = int.from_bytes(full, "big") << 4  # 296 bits + 4 zero bits = 60 × 5
        chars = "".join(crockford[(bits >> (5 * (59 - i))) & 31] for i in range(60))
        grouped = "-".join(chars[i:i + 5] for i in range(0, 60, 5))
        check(grouped == case["recovery"], "identity: recovery string")


def check_message(v):
    for case in v["valid"]:
        name = case["name"]
        raw = hx(case["hex"])
        got, err = verify_message(raw)
        check(err is None, f"message {name}: refused {err}")
        check(got is not None and got.hex() == case["id"], f"message {name}: id")
        check(raw[:-65].hex() == case["unsigned_hex"], f"message {name}: unsigned encoding")
    for case in v["invalid"]:
        _, err = verify_message(hx(case["hex"]))
        check(err == case["error"], f"message '{case['name']}': {err} != {case['error']}")


def epoch_keys(secret):
    group = derive_key("cairn 2026 epoch v1 group key", secret)
    write = ed25519_public(derive_key("cairn 2026 epoch v1 mailbox write key", secret))
    return group, write, derive_key("cairn 2026 mailbox id v1", write)


def open_envelope(env, group_key, write_public):
    """wire.md: checks (relay), then opening (member); the fragment or the
    error name."""
    if len(env) != 2000:
        return None, "BadLength"
    if env[0] != 1:
        return None, "UnknownVersion"
    key = env[1:33]
    if not is_strong(key) or not zip215_verify(key, b"cairn envelope v1\0" + env[:1936], env[1936:]):
        return None, "BadWriteSignature"
    if key != write_public:
        return None, "WrongMailbox"
    plain = xchacha_open(group_key, env[33:57], env[57:1936], env[:33])
    if plain is None:
        return None, "Decrypt"
    count, index, length = plain[17], plain[16], int.from_bytes(plain[18:20], "little")
    if not (1 <= count <= 64 and index < count and 1 <= length <= 1843):
        return None, "Fragment.BadHeader"
    if length != 1843 and index + 1 != count:
        return None, "Fragment.BadHeader"
    if any(plain[20 + length:]):
        return None, "Fragment.BadPadding"
    return plain, None


def check_envelope(v, message):
    group, write, mailbox = epoch_keys(hx(v["epoch_secret"]))
    check(group.hex() == v["group_key"], "envelope: group key")
    check(write.hex() == v["mailbox_public"], "envelope: mailbox write public key")
    check(mailbox.hex() == v["mailbox_id"], "envelope: mailbox id")
    plain, err = open_envelope(hx(v["envelope"]), group, write)
    check(err is None and plain.hex() == v["fragment"], f"envelope: opens ({err})")
    if plain is not None:
        length = int.from_bytes(plain[18:20], "little")
        data = plain[20:20 + length]
        check(data.hex() == v["message"], "envelope: the fragment holds the message")
        chat = [c for c in message["valid"] if c["name"] == "chat"]
        check(chat and data.hex() == chat[0]["hex"], "envelope: it is message.json's chat")
    for case in v["invalid"]:
        _, err = open_envelope(hx(case["hex"]), group, write)
        check(err == case["error"], f"envelope '{case['name']}': {err} != {case['error']}")
    # Regenerated from the seed: the tag, then the nonce (wire.md).
    rng = XofRng(v["rng_seed"].encode())
    data = hx(v["message"])
    fragment = rng.take(16) + bytes([0, 1]) + len(data).to_bytes(2, "little") + data
    fragment += bytes(1863 - len(fragment))
    check(fragment.hex() == v["fragment"], "envelope: fragment regenerated from the seed")
    head = b"\x01" + write
    nonce = rng.take(24)
    body = head + nonce + xchacha_seal(group, nonce, fragment, head)
    write_secret = derive_key("cairn 2026 epoch v1 mailbox write key", hx(v["epoch_secret"]))
    envelope = body + ed25519_sign(write_secret, b"cairn envelope v1\0" + body)
    check(envelope.hex() == v["envelope"], "envelope: regenerated from the seed")


def passphrase_bytes(typed):
    """identity.md, "Passphrase bytes"."""
    line = typed.replace("\r\n", "\n").replace("\r", "\n").split("\n")[0]
    return unicodedata.normalize("NFC", line).encode("utf-8")


def open_keyfile(file, passphrase):
    if file[:8] != b"CAIRNKEY" or file[8] != 1 or len(file) != 141:
        return None
    m, t, p = (int.from_bytes(file[o:o + 4], "little") for o in (9, 13, 17))
    key = hash_secret_raw(passphrase, file[21:37], time_cost=t, memory_cost=m,
                          parallelism=p, hash_len=32, type=Type.ID, version=19)
    return xchacha_open(key, file[37:61], file[61:], file[:37])


def check_keyfile(v):
    for case in v["passphrase_bytes"]:
        typed = hx(case["typed_hex"]).decode("utf-8")
        check(passphrase_bytes(typed).hex() == case["bytes"], f"keyfile: passphrase bytes of {typed!r}")
    file = hx(v["file"])
    plain = open_keyfile(file, passphrase_bytes(v["passphrase"]))
    check(plain is not None and plain[:32].hex() == v["seed"], "keyfile: seed")
    check(plain is not None and plain[32:].hex() == v["storage_key"], "keyfile: storage key")
    check(open_keyfile(file, passphrase_bytes(v["wrong_passphrase"])) is None,
          "keyfile: the wrong passphrase opens it")
    # Regenerated from the seed: the salt, then the nonce (identity.md).
    rng = XofRng(v["rng_seed"].encode())
    salt, nonce = rng.take(16), rng.take(24)
    header = file[:21] + salt
    m, t, p = (int.from_bytes(file[o:o + 4], "little") for o in (9, 13, 17))
    key = hash_secret_raw(passphrase_bytes(v["passphrase"]), salt, time_cost=t, memory_cost=m,
                          parallelism=p, hash_len=32, type=Type.ID, version=19)
    again = header + nonce + xchacha_seal(key, nonce, hx(v["seed"]) + hx(v["storage_key"]), header)
    check(again == file, "keyfile: regenerated from the seed")


def check_rng(v):
    rng = XofRng(v["seed"].encode())
    check(rng.take(64).hex() == v["first_64_bytes"], "rng: first bytes")
    check(int.from_bytes(rng.take(4), "little") == v["then_next_u32"], "rng: next_u32")
    check(int.from_bytes(rng.take(8), "little") == v["then_next_u64"], "rng: next_u64")


def x25519(secret, public):
    shared = X25519PrivateKey.from_private_bytes(secret)
    try:
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
        return shared.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:  # the library refuses an all-zero result
        return bytes(32)


def x25519_public(secret):
    key = X25519PrivateKey.from_private_bytes(secret).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def seal_to(rng, recipient, payload, aad):
    """crypto.md: ephemeral secret (32 bytes), then the nonce (24)."""
    eph = rng.take(32)
    eph_public = x25519_public(eph)
    shared = x25519(eph, recipient)
    if shared == bytes(32):
        return None
    k = derive_key("cairn 2026 seal to x25519 public key v1", shared + eph_public + recipient)
    nonce = rng.take(24)
    return eph_public + nonce + xchacha_seal(k, nonce, payload, aad)


def check_seal(v):
    recipient_secret = hx(v["recipient_secret"])
    recipient = x25519_public(recipient_secret)
    check(recipient.hex() == v["recipient_public"], "seal: recipient public key")
    rng = XofRng(v["rng_seed"].encode())
    sealed = seal_to(rng, recipient, hx(v["payload"]), hx(v["aad"]))
    check(sealed is not None and sealed.hex() == v["sealed"], "seal: regenerated from the seed")
    box = hx(v["sealed"])
    shared = x25519(recipient_secret, box[:32])
    k = derive_key("cairn 2026 seal to x25519 public key v1", shared + box[:32] + recipient)
    opened = xchacha_open(k, box[32:56], box[56:], hx(v["aad"]))
    check(opened == hx(v["payload"]), "seal: opens")
    refused = seal_to(rng, hx(v["low_order_recipient"]), hx(v["payload"]), hx(v["aad"]))
    check(refused is None and v["low_order_error"] == "LowOrderPoint", "seal: a low-order recipient")


def check_pow(v):
    mailbox = hx(v["mailbox"])
    for case in v["cases"]:
        h = derive_key("cairn 2026 relay pow v1", mailbox + case["nonce"].to_bytes(8, "little"))
        check(h.hex() == case["hash"], f"pow: hash of nonce {case['nonce']}")
        if "difficulty" in case:
            zeros = 256 - int.from_bytes(h, "big").bit_length()
            check(zeros >= case["difficulty"], "pow: difficulty met")
            if case.get("first_valid"):
                below = [
                    n for n in range(case["nonce"])
                    if 256 - int.from_bytes(derive_key("cairn 2026 relay pow v1", mailbox + n.to_bytes(8, "little")), "big").bit_length() >= case["difficulty"]
                ][:1]
                check(not below, "pow: an earlier nonce is valid")


def check_bodies(v):
    bodies = v["bodies"]
    check(len(bodies) == len(BODIES), f"bodies: {len(bodies)} samples for {len(BODIES)} bodies")
    for case in bodies:
        r = Reader(hx(case["hex"]))
        try:
            value = read_body(r)
            whole = r.at == len(r.data) and not r.noncanonical
        except DecodeError as e:
            value, whole = str(e), False
        check(whole, f"bodies #{case['index']}: not one canonical value")
        check(value == case["value"], f"bodies #{case['index']}: decoded {str(value)[:80]}")
        check(body_limit(value) is None, f"bodies #{case['index']}: refused by a limit")
    for case in v["limits"]:
        value = read_body(Reader(hx(case["hex"])))
        got = body_limit(value)
        check(got == case["error"], f"bodies limit: {got} != {case['error']}")


def kstr(text):
    """keys.md: str(s) = u64le(len(s)) ‖ s."""
    raw = text.encode("utf-8")
    return len(raw).to_bytes(8, "little") + raw


def decode_whole(raw, t):
    r = Reader(raw)
    value = read_value(r, t)
    if r.at != len(raw) or r.noncanonical:
        raise DecodeError("not one canonical value")
    return value


def open_box(secret, box, ad):
    """crypto.md: open a box sealed to x25519(secret)."""
    recipient = x25519_public(secret)
    shared = x25519(secret, box[:32])
    k = derive_key("cairn 2026 seal to x25519 public key v1", shared + box[:32] + recipient)
    return xchacha_open(k, box[32:56], box[56:], ad)


def check_wraps_shape(wraps, what):
    n = len(wraps)
    check(0 < n <= 512 and not n & (n - 1), f"{what}: wrap count")
    check(all(a["to"] < b["to"] for a, b in zip(wraps, wraps[1:])), f"{what}: wraps unsorted")
    check(all(len(w["sealed"]) == 104 for w in wraps), f"{what}: wrap length")


def decode_fragment(raw):
    """wire.md, "Canonical form (receiver)": the fragment, or the error."""
    if len(raw) != 1863:
        return None, "BadLength"
    tag, index, count = raw[:16], raw[16], raw[17]
    length = int.from_bytes(raw[18:20], "little")
    if not 1 <= count <= 64 or index >= count:
        return None, "BadHeader"
    if not 1 <= length <= 1843 or (length != 1843 and index + 1 != count):
        return None, "BadHeader"
    if any(raw[20 + length:]):
        return None, "BadPadding"
    return (tag, index, count, raw[20:20 + length]), None


class Reassembler:
    """wire.md, "Reassembly" (without the eviction bound)."""

    def __init__(self):
        self.partial = {}

    def add(self, fragment):
        tag, index, count, data = fragment
        if count == 1:
            return data, None
        held = self.partial.setdefault(tag, (count, {}))
        if held[0] != count or held[1].get(index, data) != data:
            return None, "Conflict"
        held[1][index] = data
        if len(held[1]) < count:
            return None, None
        del self.partial[tag]
        return b"".join(held[1][i] for i in range(count)), None


def check_fragments(v):
    rng = XofRng(v["rng_seed"].encode())
    tag = rng.take(16)
    message = hx(v["message"])
    r, whole = Reassembler(), None
    parsed = [decode_fragment(hx(f)) for f in v["fragments"]]
    check(all(err is None for _, err in parsed), "fragments: a good fragment refused")
    check(all(frag[0] == tag for frag, _ in parsed if frag), "fragments: tag from the seed")
    for frag, _ in reversed(parsed):
        if frag:
            whole, _ = r.add(frag)
    check(whole == message, "fragments: reassembled message")
    check(verify_message(message)[1] is None, "fragments: the message verifies")
    split = [message[i:i + 1843] for i in range(0, len(message), 1843)]
    again = [tag + bytes([i, len(split)]) + len(d).to_bytes(2, "little") + d + bytes(1843 - len(d))
             for i, d in enumerate(split)]
    check([a.hex() for a in again] == v["fragments"], "fragments: split again byte for byte")
    for case in v["invalid"]:
        _, err = decode_fragment(hx(case["hex"]))
        check(err == case["error"], f"fragments '{case['name']}': {err} != {case['error']}")
    c = v["conflict"]
    r = Reassembler()
    r.add(decode_fragment(hx(c["held"]))[0])
    _, err = r.add(decode_fragment(hx(c["then"]))[0])
    check(err == c["error"], f"fragments: conflict {err}")


CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def crockford_encode(raw):
    bits = len(raw) * 8
    n = int.from_bytes(raw, "big") << ((-bits) % 5)
    chars = (bits + 4) // 5
    return "".join(CROCKFORD[(n >> (5 * (chars - 1 - i))) & 31] for i in range(chars))


def crockford_decode(text):
    """None unless every character is in the alphabet and the unused low
    bits of the last one are zero (identity.md)."""
    if any(c not in CROCKFORD for c in text):
        return None
    n = 0
    for c in text:
        n = (n << 5) | CROCKFORD.index(c)
    bits = len(text) * 5
    extra = bits % 8
    if n & ((1 << extra) - 1):
        return None
    return (n >> extra).to_bytes(bits // 8, "big")


def parse_invite(text, now):
    """peer.md, "Invite string": the fields, or the error name."""
    prefix = "cairn-invite1-"
    text = text.strip()
    if not text.startswith(prefix):
        return None, "NotAnInvite"
    raw = crockford_decode(text[len(prefix):].lower().replace("-", "").replace(" ", ""))
    if raw is None or len(raw) < 5:
        return None, "Damaged"
    data, checksum = raw[:-4], raw[-4:]
    if derive_key("cairn 2026 invite v1 string checksum", data)[:4] != checksum:
        return None, "Damaged"
    if data[0] != 2:
        return None, "UnknownVersion"
    r = Reader(data[1:])
    try:
        fields = {"group": r.fixed(32), "genesis": r.fixed(32), "service": r.fixed(32),
                  "secret": r.take(32), "expires_at": r.varint(), "hint": r.string(),
                  "loopback_port": r.option(lambda: r.varint(16)),
                  "answerers": [r.fixed(32) for _ in range(r.varint())]}
    except DecodeError:
        return None, "Damaged"
    if r.at != len(r.data) or len(fields["answerers"]) > 8 or len(fields["hint"].encode()) > 64:
        return None, "Damaged"
    if now > fields["expires_at"]:
        return None, "Expired"
    return fields, None


def check_invite(v):
    fields, err = parse_invite(v["text"], v["now"])
    check(err is None, f"invite: refused {err}")
    if fields:
        want = v["invite"]
        for key in ("group", "genesis", "service", "secret"):
            check(fields[key].hex() == want[key], f"invite: {key}")
        check([a.hex() for a in fields["answerers"]] == want["answerers"], "invite: answerers")
        check((fields["expires_at"], fields["hint"], fields["loopback_port"]) ==
              (want["expires_at"], want["hint"], want["loopback_port"]), "invite: other fields")
        body = b"\x02" + b"".join(b"\x20" + fields[k] for k in ("group", "genesis", "service"))
        body += fields["secret"] + bytes(encode_varint(fields["expires_at"]))
        body += bytes(encode_varint(len(fields["hint"]))) + fields["hint"].encode()
        body += b"\x00" if fields["loopback_port"] is None else b"\x01" + bytes(encode_varint(fields["loopback_port"]))
        body += bytes(encode_varint(len(fields["answerers"]))) + b"".join(b"\x20" + a for a in fields["answerers"])
        again = "cairn-invite1-" + crockford_encode(body + derive_key("cairn 2026 invite v1 string checksum", body)[:4])
        check(again == v["text"], "invite: the string encoded again")
        secret, binding = fields["secret"], hx(v["binding"])
        check(derive_key("cairn 2026 invite v1 id", secret).hex() == v["id"], "invite: id")
        check(derive_key("cairn 2026 invite v1 secret proof", secret + binding).hex() == v["proof"], "invite: proof")
        code = int.from_bytes(derive_key("cairn 2026 invite v1 short code", binding)[:4], "little") % 10**6
        check(f"{code // 1000:03}-{code % 1000:03}" == v["short_code"], "invite: short code")
    for case in v["invalid"]:
        _, err = parse_invite(case["text"], case["now"])
        check(err == case["error"], f"invite '{case['name']}': {err} != {case['error']}")


def encode_varint(n):
    out = []
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return out


# relay.md §2-§3: the frozen hellos, then requests and responses.
LIMITS = [("max_mailboxes", 16), ("max_fetch", 16), ("max_inflight", 16),
          ("requests_per_second", 32), ("burst", 32), ("pow_difficulty", 8),
          ("idle_timeout_secs", 32)]


def uint(r, bits):
    """postcard: u8 is one raw byte, wider integers are varints."""
    return r.take(1)[0] if bits == 8 else r.varint(bits)


def boolean(r):
    b = r.take(1)[0]
    if b > 1:
        raise DecodeError("Malformed")
    return b == 1


def relay_item(r):
    return {"cursor": r.varint(), "envelope": list(r.take(r.varint()))}


def client_payload(r, first):
    if first:
        magic = list(r.take(8))
        return {"magic": magic, "versions": [r.varint(16) for _ in range(r.varint())]}
    tag, ident = r.varint(32), None
    ident = r.varint(32)
    if tag == 0:
        return {"Post": {"id": ident, "envelope": list(r.take(r.varint())),
                         "pow": r.option(lambda: r.varint())}}
    if tag == 1:
        return {"Fetch": {"id": ident, "mailbox": list(r.fixed(32)), "after": r.varint(),
                          "limit": r.varint(16)}}
    if tag == 2:
        return {"Subscribe": {"id": ident, "from": [
            {"mailbox": list(r.fixed(32)), "after": r.varint()} for _ in range(r.varint())]}}
    if tag == 3:
        return {"Ping": {"id": ident}}
    raise DecodeError("Malformed")


def server_payload(r, first):
    tag = r.varint(32)
    if first and tag == 0:
        version = r.varint(16)
        return {"Welcome": {"version": version,
                            "limits": {name: uint(r, bits) for name, bits in LIMITS}}}
    if first and tag == 1:
        return {"Refused": {"code": r.varint(16), "supported": [r.varint(16) for _ in range(r.varint())]}}
    if tag == 0:
        return {"Posted": {"id": r.varint(32), "cursor": r.varint(), "duplicate": boolean(r)}}
    if tag == 1:
        return {"Page": {"id": r.varint(32), "head": r.varint(),
                         "items": [relay_item(r) for _ in range(r.varint())]}}
    if tag == 2:
        return {"Subscribed": {"id": r.varint(32), "heads": [r.varint() for _ in range(r.varint())]}}
    if tag == 3:
        return {"Push": relay_item(r)}
    if tag == 4:
        return {"Pong": {"id": r.varint(32)}}
    if tag == 5:
        return {"Error": {"id": r.option(lambda: r.varint(32)), "code": r.varint(16), "info": r.varint()}}
    raise DecodeError("Malformed")


def read_frame(raw, decode, first, limit):
    length = int.from_bytes(raw[:4], "little")
    check(0 < length <= limit and len(raw) == 4 + length, "relay: frame length")
    r = Reader(raw[4:])
    value = decode(r, first)
    check(r.at == len(r.data) and not r.noncanonical, "relay: one canonical value per frame")
    return value


def check_relay(v, envelope):
    for side, decode, limit in (("client", client_payload, 4096), ("server", server_payload, 163840)):
        for i, case in enumerate(v[side]):
            value = read_frame(hx(case["frame"]), decode, i == 0, limit)
            check(value == case["value"], f"relay {side} frame {i}: {str(value)[:60]}")
    refused = read_frame(hx(v["refused_hello"]["frame"]), server_payload, True, 163840)
    check(refused == v["refused_hello"]["value"], "relay: refused hello")
    posted = v["client"][2]["value"]["Post"]["envelope"]
    check(bytes(posted).hex() == envelope, "relay: the envelope posted is envelope.json's")


def identity_keys(seed):
    """identity.md: the signing and onion-service secrets of a seed."""
    return (derive_key("cairn 2026 identity v1 ed25519 signing key", seed),
            derive_key("cairn 2026 identity v1 onion service ed25519 key", seed))


def frame_of(payload):
    return len(payload).to_bytes(4, "little") + payload


def sealed_frame(key, counter, plaintext):
    """peer.md §3.4: header ‖ XChaCha20-Poly1305(key, nonce(n), pt, ad = header)."""
    header = (len(plaintext) + 16).to_bytes(4, "little")
    nonce = counter.to_bytes(8, "little") + bytes(16)
    return header + xchacha_seal(key, nonce, plaintext, header)


def check_peer(v):
    """peer.md §2-§4: every frame of the session regenerated."""
    rng = XofRng(v["rng_seed"].encode())
    e_i, e_r = rng.take(32), rng.take(32)
    big_e_i, big_e_r = x25519_public(e_i), x25519_public(e_r)
    i_sign, _ = identity_keys(hx(v["initiator_seed"]))
    r_sign, r_onion = identity_keys(hx(v["responder_seed"]))
    id_i, id_r, on_r = ed25519_public(i_sign), ed25519_public(r_sign), ed25519_public(r_onion)
    f_hello = frame_of(b"cairnPER" + b"\x01\x01" + b"\x20" + big_e_i)
    f_welcome = frame_of(b"\x00\x01\x20" + big_e_r)
    transcript = lambda data: derive_key("cairn 2026 peer v1 transcript", data)
    th1 = transcript(f_hello + f_welcome)
    shared = x25519(e_i, big_e_r)
    check(shared == x25519(e_r, big_e_i), "peer: shared secret")
    key = lambda ctx, th: derive_key("cairn 2026 peer v1 " + ctx, shared + th)
    statement_r = th1 + id_r + on_r
    rauth = (b"\x20" + id_r + b"\x20" + on_r
             + b"\x40" + ed25519_sign(r_sign, b"cairn peer responder identity v1\0" + statement_r)
             + b"\x40" + ed25519_sign(r_onion, b"cairn peer responder onion v1\0" + statement_r))
    f_rauth = sealed_frame(key("handshake key responder to initiator", th1), 0, rauth)
    th2 = transcript(f_hello + f_welcome + f_rauth)
    iauth = b"\x20" + id_i + b"\x40" + ed25519_sign(i_sign, b"cairn peer initiator identity v1\0" + th2 + id_i)
    f_iauth = sealed_frame(key("handshake key initiator to responder", th1), 0, iauth)
    th3 = transcript(f_hello + f_welcome + f_rauth + f_iauth)
    heads, deliver = (hx(p) for p in v["session_plaintexts"])
    f_heads = sealed_frame(key("session key initiator to responder", th3), 0, heads)
    f_deliver = sealed_frame(key("session key responder to initiator", th3), 0, deliver)
    want = [(f["from"], f["hex"]) for f in v["frames"]]
    got = [("alice", f_hello), ("bob", f_welcome), ("bob", f_rauth), ("alice", f_iauth),
           ("alice", f_heads), ("bob", f_deliver)]
    check(len(want) == len(got), "peer: frame count")
    for i, ((who, frame), (w_who, w_hex)) in enumerate(zip(got, want)):
        check(who == w_who and frame.hex() == w_hex, f"peer: frame {i} regenerated")
    # The plaintexts are peer.md §4 messages: Heads (3) and Deliver (4).
    r = Reader(heads)
    check(r.varint(32) == 3 and len(r.fixed(32)) == 32, "peer: Heads header")
    for _ in range(r.varint()):
        r.fixed(32), r.varint(), r.fixed(32)
    check(r.at == len(heads), "peer: Heads whole")
    r = Reader(deliver)
    check(r.varint(32) == 4 and len(r.fixed(32)) == 32 and len(r.take(r.varint())) == 8
          and r.at == len(deliver), "peer: Deliver")


class Chain:
    """chain.md, "Acceptance" (without the pending bound): one group's
    accepted messages, tails, pending set and equivocators."""

    def __init__(self, group):
        self.group, self.accepted, self.pending = group, {}, {}
        self.tail, self.at, self.equivocators = {}, {}, {}

    def next_seq(self, author):
        return self.tail[author][0] + 1 if author in self.tail else 0

    def ingest(self, raw, opened):
        m, unsigned, _ = decode_signed(raw)
        ident = message_id(unsigned)
        author, seq = m["author"], m["seq"]
        if ident in self.accepted or ident in self.pending:
            return ["duplicate"]
        if m["group"] != self.group:
            return ["rejected WrongGroup"]
        genesis = isinstance(m["body"], dict) and "Genesis" in m["body"]
        if opened == bytes(32) or not (m["epoch"] == opened or (genesis and opened == ident)):
            return ["rejected WrongEpoch"]
        if author in self.equivocators and self.equivocators[author] <= seq:
            return ["rejected Equivocator"]
        held = self.at.get((author, seq))
        if held is not None and held != ident:
            self.equivocators[author] = min(seq, self.equivocators.get(author, seq))
            return ["equivocation"]
        self.pending[ident] = m
        self.at[(author, seq)] = ident
        events = self.drain()
        if ident in self.pending:
            nxt = self.next_seq(author)
            if seq > nxt and (author, seq - 1) not in self.at:
                events.append(f"gap {nxt}..={seq - 1}")
            missing = [p for p in m["parents"] if p not in self.accepted]
            if missing:
                events.append(f"waiting {len(missing)}")
        return events

    def drain(self):
        events, progress = [], True
        while progress:
            progress = False
            for ident, m in sorted(self.pending.items(), key=lambda kv: kv[1]["lamport"]):
                author, seq = m["author"], m["seq"]
                if seq != self.next_seq(author) or any(p not in self.accepted for p in m["parents"]):
                    continue
                del self.pending[ident]
                progress = True
                tail_id = self.tail.get(author, (None, None))[1]
                lamport = 1 + max((self.accepted[p]["lamport"] for p in m["parents"]), default=-1)
                if seq > 0 and m["prev"] != tail_id:
                    events.append("rejected BrokenChain")
                    del self.at[(author, seq)]
                elif m["lamport"] != lamport:
                    events.append("rejected BadLamport")
                    del self.at[(author, seq)]
                else:
                    self.accepted[ident] = m
                    self.tail[author] = (seq, ident)
                    events.append("accepted " + ident.hex())
                break
        return events


def verify_proof(raw):
    """chain.md, "Verification by a third party"."""
    r = Reader(raw)
    try:
        (a, ua, sa), (b, ub, sb) = read_signed(r), read_signed(r)
    except DecodeError as e:
        return "Decode." + str(e)
    if r.at != len(raw):
        return "Decode.TrailingBytes"
    if (a["group"], a["author"], a["seq"]) != (b["group"], b["author"], b["seq"]):
        return "NotSamePosition"
    ia, ib = message_id(ua), message_id(ub)
    if ia == ib:
        return "SameMessage"
    if ia > ib:
        return "NotOrdered"
    for unsigned, sig in ((ua, sa), (ub, sb)):
        if not zip215_verify(a["author"], b"cairn message v1\0" + unsigned, sig):
            return "BadSignature"
    return None


def check_chain(v):
    chain = Chain(hx(v["group"]))
    for i, step in enumerate(v["steps"]):
        got = chain.ingest(hx(step["hex"]), hx(step["opened"]))
        check(got == step["events"], f"chain step {i}: {got} != {step['events']}")
    check(verify_proof(hx(v["proof"])) is None, "chain: the proof verifies")
    for case in v["bad_proofs"]:
        got = verify_proof(hx(case["hex"]))
        check(got == case["error"], f"chain proof '{case['name']}': {got} != {case['error']}")


def read_peer_message(r):
    """peer.md §4 and §7: one PeerMessage as serde's JSON shows it."""
    key = lambda: list(r.fixed(32))
    tag = r.varint(32)
    if tag == 0:
        return {"ResyncRequest": {"group": key(), "have": [[key(), r.varint()] for _ in range(r.varint())],
                                  "limit": r.varint(32)}}
    if tag == 1:
        return {"ResyncItem": {"message": list(r.take(r.varint()))}}
    if tag == 2:
        return {"ResyncDone": {"more": boolean(r)}}
    if tag == 3:
        return {"Heads": {"group": key(), "heads": [
            {"author": key(), "seq": r.varint(), "id": key()} for _ in range(r.varint())]}}
    if tag == 4:
        return {"Deliver": {"group": key(), "message": list(r.take(r.varint()))}}
    if tag == 5:
        return {"Error": {"code": r.varint(16), "info": r.varint()}}
    if tag == 6:
        return "Close"
    if tag == 7:
        # The proof is 32 raw bytes (a fixed array, no length prefix).
        return {"JoinRequest": {"proof": list(r.take(32)), "key_package": read_value(r, "KeyPackage"),
                                "name": r.string()}}
    if tag == 8:
        return {"Welcome": {"group": key(), "genesis": key(), "admitted_by": key(),
                            "inviter_onion": key()}}
    if tag == 9:
        return "GroupsRequest"
    if tag == 10:
        return {"Groups": {"groups": [[key(), key()] for _ in range(r.varint())]}}
    raise DecodeError("Malformed")


def check_peer_messages(v):
    cases = v["messages"]
    check(len(cases) == 11, "peer messages: one of each index 0-10")
    for case in cases:
        r = Reader(hx(case["hex"]))
        value = read_peer_message(r)
        check(r.at == len(r.data) and not r.noncanonical, f"peer message {case['index']}: whole")
        check(value == case["value"], f"peer message {case['index']}: {str(value)[:60]}")
        if isinstance(value, dict) and ("ResyncItem" in value or "Deliver" in value):
            inner = bytes(next(iter(value.values()))["message"])
            check(verify_message(inner)[1] is None, f"peer message {case['index']}: carried message")


def check_keys(v):
    group = hx(v["group"])
    packages = []
    for kp in v["key_packages"]:
        secret = hx(kp["secret"])
        check(x25519_public(secret).hex() == kp["x25519"], "keys: key package public key")
        encoded = b"\x20" + group + b"\x20" + hx(kp["x25519"])
        kid = derive_key("cairn 2026 keys v1 key package id", hx(kp["owner"]) + encoded)
        check(kid.hex() == kp["id"], "keys: key package id")
        packages.append((kid, secret))
    rk = v["rekey"]
    rekey = decode_whole(hx(rk["hex"]), "Rekey")
    e_next = hx(rk["epoch_secret"])
    replaces = bytes(rekey["replaces"])
    check(replaces.hex() == rk["replaces"], "keys: rekey replaces")
    check_wraps_shape(rekey["wraps"], "keys: rekey")
    check(len(rekey["wraps"]) == rk["wraps"], "keys: rekey wrap count")
    confirmation = derive_key("cairn 2026 keys v1 rekey confirmation", group + replaces + e_next)
    check(bytes(rekey["confirmation"]) == confirmation, "keys: rekey confirmation")
    for kid, secret in packages:
        wrap = [w for w in rekey["wraps"] if bytes(w["to"]) == kid]
        ad = b"cairn rekey wrap v1\0" + group + replaces + kid
        opened = wrap and open_box(secret, bytes(wrap[0]["sealed"]), ad)
        check(opened == e_next, "keys: a recipient opens the rekey")
    dummies = [w for w in rekey["wraps"] if bytes(w["to"]) not in {k for k, _ in packages}]
    check(len(dummies) == len(rekey["wraps"]) - len(packages), "keys: dummy wraps")
    ra = v["ratchet"]
    ratcheted = derive_key("cairn 2026 keys v1 role key ratchet",
                           hx(ra["previous_key"]) + hx(ra["epoch_secret"]) + kstr(ra["role"]))
    check(ratcheted.hex() == ra["next_key"], "keys: role-key ratchet")
    gr = v["grant"]
    grant = decode_whole(hx(gr["hex"]), "RoleKeyGrant")
    epoch, role, key = hx(gr["epoch"]), grant["role"], hx(gr["key"])
    check_wraps_shape(grant["wraps"], "keys: grant")
    confirmation = derive_key("cairn 2026 keys v1 role key grant confirmation",
                              group + epoch + key + kstr(role))
    check(bytes(grant["confirmation"]) == confirmation, "keys: grant confirmation")
    kid, secret = packages[gr["to_key_package"]]
    wrap = [w for w in grant["wraps"] if bytes(w["to"]) == kid]
    ad = b"cairn role key grant wrap v1\0" + group + epoch + kid + kstr(role)
    check(wrap and open_box(secret, bytes(wrap[0]["sealed"]), ad) == key, "keys: grant opens")
    sc = v["sealed_content"]
    sealed = decode_whole(hx(sc["hex"]), "SealedContent")
    binding, sealed_epoch = hx(sc["binding"]), bytes(sealed["epoch"])
    check(sealed_epoch.hex() == sc["epoch"], "keys: sealed content epoch")
    check([w["role"] for w in sealed["wraps"]] == sorted(sc["role_keys"]), "keys: role wraps")
    for w in sealed["wraps"]:
        wrap_key = derive_key("cairn 2026 keys v1 role wrapping key", hx(sc["role_keys"][w["role"]]))
        sk = bytes(w["sealed_key"])
        ad = b"cairn sealed content key wrap v1\0" + group + binding + bytes(w["epoch"]) + kstr(w["role"])
        content_key = xchacha_open(wrap_key, sk[:24], sk[24:], ad)
        check(content_key is not None and len(content_key) == 32, f"keys: {w['role']} opens its wrap")
        if content_key:
            ct = bytes(sealed["ciphertext"])
            plain = xchacha_open(content_key, ct[:24], ct[24:],
                                 b"cairn sealed content v1\0" + group + binding + sealed_epoch)
            check(plain is not None and plain.hex() == sc["plaintext"], "keys: sealed content opens")


POWERS = ["Chat", "CreateTask", "EditTask", "AssignTask", "Comment", "CloseReopen", "Invite",
          "Remove", "ChangeRules", "RotateKeys", "ChangeRelays"]


def read_strings(r):
    return [r.string() for _ in range(r.varint())]


def read_rules(r):
    """group.md, "Binary form"."""
    roles = {}
    for _ in range(r.varint()):
        name = r.string()
        powers = [POWERS[r.varint(32)] for _ in range(r.varint())]
        roles[name] = {"powers": powers, "assign_to": read_strings(r), "reads": read_strings(r),
                       "manages": read_strings(r)}
    founder = r.string()
    newcomer = r.option(r.string)
    recovery = ["nobody", "earliest-member"][r.varint(32)]
    return {"roles": roles, "founder": founder, "newcomer": newcomer, "recovery": recovery}


def read_state(raw):
    """group.md, "State encoding": the canonical GroupState."""
    r = Reader(raw)
    position = lambda: (r.varint(), r.fixed(32))
    opt_key = lambda: r.option(lambda: r.fixed(32))
    keys = lambda: [r.fixed(32) for _ in range(r.varint())]
    state = {"group": r.fixed(32), "genesis": r.fixed(32), "name": r.string(), "rules": read_rules(r)}
    state["members"] = {r.fixed(32): {"roles": read_strings(r), "since": position(),
                                      "key_package": opt_key(), "onion": opt_key(),
                                      "name": r.option(r.string)} for _ in range(r.varint())}
    state["former"] = {r.fixed(32): {"roles": read_strings(r), "since": position(),
                                     "gone_by": r.fixed(32), "name": r.option(r.string)}
                       for _ in range(r.varint())}
    state["tasks"] = {r.fixed(32): {"creator": r.fixed(32), "readable_by": read_strings(r),
                                    "assignees": keys(), "open": boolean(r), "content": r.fixed(32)}
                      for _ in range(r.varint())}
    state["relays"] = read_strings(r)
    state["epoch"] = {"id": r.fixed(32), "replaces": opt_key(), "membership": boolean(r),
                      "exposed_to": keys()}
    state["key_packages"] = {r.fixed(32): r.fixed(32) for _ in range(r.varint())}
    state["used_invites"] = [r.take(32) for _ in range(r.varint())]
    if r.at != len(raw) or r.noncanonical:
        raise DecodeError("state: not one canonical value")
    return state


def check_fold_state(path, v):
    """The final state, decoded from group.md's state encoding, against the
    verdicts: every applied admission's member is a member or a former
    member; every applied removal's member is gone unless admitted again
    after it; the founder and the members hold roles the rules define."""
    try:
        state = read_state(hx(v["state"]))
    except DecodeError as e:
        check(False, f"{path.name}: {e}")
        return
    check(state["group"].hex() == v["group"] and state["genesis"].hex() == v["genesis"],
          f"{path.name}: state names the group")
    roles = set(state["rules"]["roles"])
    check(state["rules"]["founder"] in roles, f"{path.name}: founder role")
    for key, member in state["members"].items():
        check(set(member["roles"]) <= roles, f"{path.name}: a member holds an unknown role")
        check(member["roles"] == sorted(member["roles"]), f"{path.name}: roles not a set")
    order = []
    for m in v["messages"]:
        if m["verdict"] not in ("applied",) and not m["verdict"].startswith("rekey-dropped"):
            continue
        msg, _, _ = decode_signed(hx(m["bytes"]))
        order.append((msg["lamport"], m["id"], msg["body"]))
    order.sort()
    admitted, removed = set(), {}
    for lamport, ident, body in order:
        if isinstance(body, dict) and "MemberAdd" in body:
            who = bytes(body["MemberAdd"]["member"])
            admitted.add(who)
            removed.pop(who, None)
        if isinstance(body, dict) and "MemberRemove" in body:
            removed[bytes(body["MemberRemove"]["member"])] = ident
    known = set(state["members"]) | set(state["former"])
    check(admitted <= known, f"{path.name}: an admitted member is in neither list")
    for who in removed:
        check(who not in state["members"], f"{path.name}: a removed member is still a member")


def check_fold(path, v):
    """Each message passes every context-free rule (decoded whole, its body
    by group.md's tables, within its limits, shape, strong author, ZIP-215
    signature) and has the recorded id; the state hash of the final state."""
    for i, m in enumerate(v["messages"]):
        got, err = verify_message(hx(m["bytes"]))
        check(err is None, f"{path.name} #{i}: refused {err}")
        check(got is not None and got.hex() == m["id"], f"{path.name} #{i}: id")
    state_hash = derive_key("cairn 2026 group state v1", hx(v["state"]))
    check(state_hash.hex() == v["state_hash"], f"{path.name}: state hash")
    check_fold_state(path, v)


def cofactorless_verify(public, message, signature):
    """What a strict verifier computes: [s]B = R + [k]A, no cofactor."""
    s = int.from_bytes(signature[32:], "little")
    a, r = decode_point(public), decode_point(signature[:32])
    if s >= L or a is None or r is None:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return same_point(scalar_mult(s, BASE), point_add(r, scalar_mult(k, a)))


def check_zip215(v):
    message = hx(v["message"])
    check(len(v["cases"]) >= 200, "zip215: too few cases")
    for case in v["cases"]:
        a, sig = hx(case["public"]), hx(case["signature"])
        name = case["name"]
        check(zip215_verify(a, message, sig) == case["valid"], f"zip215 '{name}': valid")
        check(is_strong(a) == case["strong"], f"zip215 '{name}': strong")
        check(cofactorless_verify(a, message, sig) == case["cofactorless_valid"],
              f"zip215 '{name}': cofactorless")
    splits = [c for c in v["cases"] if c["valid"] and c["strong"] and not c["cofactorless_valid"]]
    check(len(splits) >= 2, "zip215: no case where a strict verifier would split a group")


def check_zip215_edges():
    """crypto.md: with s = 0, every pair of small-order encodings (8
    canonical, 6 non-canonical) is a valid signature of any message; s + L
    is refused."""
    torsion = [scalar_mult(k, decode_point(bytes.fromhex(
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"))) for k in range(8)]
    encodings = {encode_point(t) for t in torsion}
    p_bytes = lambda y, sign: (y | (sign << 255)).to_bytes(32, "little")
    encodings |= {p_bytes(P, 0), p_bytes(P, 1), p_bytes(P + 1, 0), p_bytes(P + 1, 1),
                  p_bytes(P - 1, 1), p_bytes(1, 1)}
    check(len(encodings) == 14, f"zip215: {len(encodings)} small-order encodings, not 14")
    for a in encodings:
        for r in encodings:
            check(zip215_verify(a, b"any message", r + bytes(32)), "zip215: small-order pair refused")
        check(not is_strong(a), "zip215: a small-order key is strong")


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parents[2] / "protocol-spec" / "vectors")
    load = lambda name: json.loads((root / name).read_text())
    message = load("message.json")
    check_identity(load("identity.json"))
    check_message(message)
    check_envelope(load("envelope.json"), message)
    check_keyfile(load("keyfile.json"))
    check_pow(load("pow.json"))
    check_bodies(load("bodies.json"))
    check_zip215(load("zip215.json"))
    check_rng(load("rng.json"))
    check_seal(load("seal.json"))
    check_keys(load("keys.json"))
    check_fragments(load("fragments.json"))
    check_invite(load("invite.json"))
    check_relay(load("relay.json"), load("envelope.json")["envelope"])
    check_peer(load("peer.json"))
    check_chain(load("chain.json"))
    check_peer_messages(load("peer_messages.json"))
    folds = sorted((root / "fold").glob("*.json"))
    check(len(folds) >= 5, "fold vectors missing")
    for path in folds:
        check_fold(path, json.loads(path.read_text()))
    check_zip215_edges()
    seen = {p.relative_to(root).as_posix() for p in root.rglob("*.json")}
    known = {"identity.json", "message.json", "envelope.json", "keyfile.json", "pow.json",
             "bodies.json", "zip215.json", "rng.json", "seal.json", "keys.json",
             "fragments.json", "invite.json", "relay.json", "peer.json", "chain.json",
             "peer_messages.json"}
    known |= {p.relative_to(root).as_posix() for p in folds}
    check(seen == known, f"vector files this checker does not read: {sorted(seen - known)}")
    if FAILURES:
        print(f"{len(FAILURES)} disagreements with the vectors:")
        for f in FAILURES:
            print("  " + f)
        return 1
    print(f"all vectors agree ({len(seen)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
