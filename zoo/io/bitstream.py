"""The ``.czoo`` container: a self-describing bitstream ``zoo decode`` reads alone.

Fixed-width integers are little-endian. A *varint* is unsigned LEB128: 7 bits a
byte, low bits first, the top bit set on every byte but the last; it is minimal
(its last byte is not 0, unless it is the only one), at most 5 bytes and below
2**32. A side value is a zigzag varint (0, -1, 1, -2, ... as 0, 1, 2, 3, ...).

A file is a header followed by ``frame count`` frame records. What a record holds
beside its strings (its kind, the latent names, how many strings each latent has,
the side value names) is its *schema*; the header lists the stream's schemas once
and each record names its own by index, so a record carries only what varies:

=====================  ==========  ===============================================
field                  type        notes
=====================  ==========  ===============================================
magic                  4 bytes     ``b"CZOO"``
version                u8          3 (versions 1 and 2 are refused)
header length          u32         bytes in the header body
                                   (36..4,365,664: the most its fields can take)
**header body**
model spec length      u16         <= 4096
model spec             bytes       canonical compact ASCII JSON object: a
                                   registry model's name alone (the decoder
                                   opens that entry), else the whole spec
implementations len.   u16         <= 4096
implementations        bytes       canonical JSON object: each active plugin's
                                   ``"<package> <version>"`` by name, those of
                                   codec-zoo itself under ``"*"``
weights sha256         8 bytes     first 8 bytes of the digest (16 hex chars)
quality                u8          0..255, the same for every frame
width, height          u16, u16    1..16384 each
frame count            u32         0..1_000_000
fps num, fps den       u32, u32    both > 0, in lowest terms
intra period           u16         0 = only the first frame is intra
schema count           u8          0..255
schemas                            see below, in the order records first use them
header CRC             u32         ``zlib.crc32`` of the header body
**each frame record**
schema                 u8          index of the record's schema
picture CRC            u32         ``zlib.crc32`` of the frame the encoder
                                   reconstructed, as 8-bit 4:2:0 planes Y, U, V
side values            varints     zigzag, one per side name of the schema
string lengths         varints     one per string of the schema, in its order
strings                bytes       concatenated
record CRC             u16         :func:`record_crc` of schema .. strings
=====================  ==========  ===============================================

A schema is a u8 kind (0 = I, 1 = P), a u8 latent count, per latent its name (u8
length + ASCII) and a u8 string count, then a u8 side count and per side value its
name. Names match ``[a-z0-9_-]{1,32}`` and are unique within their schema; the
schemas of a stream are distinct and each is used.

A P-frame of one latent with one string of under 128 bytes costs 8 bytes beside
it. The record CRC is a CRC-16 (CCITT, initial value 0xFFFF): it stops every burst
of up to 16 bits, and all but 2**-16 of other corruptions, before the decoder runs;
a corrupt record it lets through is caught once decoded by the picture CRC, which
stays a CRC-32 because it is also the only check that a decoder computes what the
encoder did (a 2**-16 chance of missing a drifted frame is too much for that).

The record CRC covers the schema byte too, so every byte of a file is guarded by
the magic, the version, a length or a checksum. The reader accepts only what the
writer produces: ``dumps(*loads(data)) == data`` whenever ``loads`` succeeds.
:func:`layout` tells tools that edit streams (the fuzzer) where each field lies.
"""

from __future__ import annotations

import binascii
import json
import os
import re
import stat
import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Sequence

from zoo.errors import ZooError
from zoo.slots import Payload
from .atomic import write_bytes

MAGIC = b"CZOO"
VERSION = 3
MAX_JSON = 4096  #: bytes of each JSON field (model spec, implementations)
MAX_SIZE = 16384
MAX_FRAMES = 1_000_000
MAX_FILE_BYTES = 4 << 30
MAX_COUNT = 255  #: schemas in a stream; latents and side values in a schema; strings of a latent
MAX_VARINT = 2**32 - 1
_VARINT_BYTES = 5  #: 7 bits a byte: 5 bytes hold 32 bits

#: The prelude and the fixed header fields (after the two JSON fields), in order.
PRELUDE_FIELDS = {"magic": "4s", "version": "B", "header length": "I"}
FIXED_FIELDS = {"weights sha256": "8s", "quality": "B", "width": "H", "height": "H",
                "frame count": "I", "fps num": "I", "fps den": "I", "intra period": "H",
                "schema count": "B"}
PRELUDE = struct.Struct("<" + "".join(PRELUDE_FIELDS.values()))
FIXED = struct.Struct("<" + "".join(FIXED_FIELDS.values()))
#: The two JSON fields that open the header body, in order; each is JSON_LENGTH bytes of
#: length, then that many bytes of JSON.
JSON_FIELDS = ("model spec", "implementations")
JSON_LENGTH = struct.Struct("<H")
CRC = struct.Struct("<I")  #: the header CRC
RECORD_HEAD = struct.Struct("<BI")  #: schema index, picture CRC
RECORD_CRC = struct.Struct("<H")  #: see :func:`record_crc`
_U8, _U32 = (struct.Struct("<" + c) for c in "BI")
_NAME_BYTES = 1 + 32
_MAX_SCHEMA = 2 + MAX_COUNT * (_NAME_BYTES + 1) + 1 + MAX_COUNT * _NAME_BYTES
#: Bounds of the header length: "{}" is the shortest JSON field; the longest table is
#: MAX_COUNT schemas of MAX_COUNT latents and side values of 32-character names.
MIN_HEADER = len(JSON_FIELDS) * (JSON_LENGTH.size + 2) + FIXED.size
MAX_HEADER = len(JSON_FIELDS) * (JSON_LENGTH.size + MAX_JSON) + FIXED.size + MAX_COUNT * _MAX_SCHEMA
_KINDS = ("I", "P")
_NAME = re.compile(r"[a-z0-9_-]{1,32}")
_SHA = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{48})?")


@dataclass
class Header:
    """What a decoder needs before the first frame."""

    model: dict  #: JSON-able model spec (name, plugins, preset, options, untrained)
    weights_sha256: str  #: hex digest; a read header holds its 16-char prefix
    quality: int  #: 0..255
    width: int  #: 1..16384
    height: int  #: 1..16384
    frame_count: int  #: number of frame records, 0..1_000_000
    fps: Fraction  #: frames per second, numerator and denominator < 2**32
    intra_period: int  #: 0..65535; 0 = only the first frame is intra
    #: the code that made the stream: see :func:`zoo.core.models.implementations`
    implementations: dict[str, str] = field(default_factory=dict)


@dataclass
class FrameRecord:
    """One coded frame: its kind ("I" or "P"), its payload and the CRC-32 of the
    8-bit 4:2:0 planes the encoder reconstructed (see :func:`zoo.core.sequence.picture_crc`)."""

    kind: str
    payload: Payload
    checksum: int = 0


@dataclass(frozen=True)
class Schema:
    """What records of one shape share, written once in the header."""

    kind: str  #: "I" or "P"
    latents: tuple[tuple[str, int], ...]  #: (name, string count) of each latent, in order
    side: tuple[str, ...]  #: the side value names, in order

    @property
    def strings(self) -> int:
        """How many strings a record of this schema holds."""
        return sum(count for _, count in self.latents)


def varint(value: int) -> bytes:
    """``value`` (0..MAX_VARINT) as a minimal unsigned LEB128 varint."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def record_crc(data: bytes | memoryview) -> int:
    """The record CRC: CRC-16/CCITT with initial value 0xFFFF (so zeros do not sum to 0)."""
    return binascii.crc_hqx(data, 0xFFFF)


def _zigzag(value: int) -> int:
    return 2 * value if value >= 0 else -2 * value - 1


def _unzigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def _canonical_json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


def _json_field(what: str, value: object) -> bytes:
    """A JSON header field, length-prefixed; ValueError if it is not a JSON object of at most MAX_JSON bytes."""
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dict")
    try:
        raw = _canonical_json(value)
        same = json.loads(raw) == value
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"{what} is not JSON-able: {e}") from None
    if not same:
        raise ValueError(f"{what} does not round-trip through JSON")
    if len(raw) > MAX_JSON:
        raise ValueError(f"{what} is {len(raw)} bytes of JSON, more than {MAX_JSON}")
    return JSON_LENGTH.pack(len(raw)) + raw


def check_model_spec(model: dict) -> None:
    """ValueError unless ``model`` fits a header: a JSON object of at most MAX_JSON bytes, finite numbers."""
    _json_field("model spec", model)


def _check_int(what: str, value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an int in {lo}..{hi}, got {value!r}")
    return value


def _check_name(what: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} name must match [a-z0-9_-]{{1,32}}, got {name!r}")


def _dump_name(name: str) -> bytes:
    return _U8.pack(len(name)) + name.encode("ascii")


def check_record(r: FrameRecord) -> Schema:
    """The record's schema; ValueError for anything the container cannot hold (so an
    encoder can check each frame's payload as it is made)."""
    if not isinstance(r, FrameRecord) or r.kind not in _KINDS:
        raise ValueError(f"frame kind must be 'I' or 'P', got {getattr(r, 'kind', r)!r}")
    if not isinstance(r.payload, Payload) or not isinstance(r.payload.latents, dict) \
            or not isinstance(r.payload.side, dict):
        raise ValueError(f"a payload must be a Payload of two dicts, got {type(r.payload).__name__}")
    latents, side = r.payload.latents, r.payload.side
    _check_int("latent count", len(latents), 0, MAX_COUNT)
    for name, strings in latents.items():
        _check_name("latent", name)
        if not isinstance(strings, (list, tuple)):
            raise ValueError(f"latent {name!r} must be a list of strings, got {type(strings).__name__}")
        _check_int(f"string count of {name!r}", len(strings), 0, MAX_COUNT)
        for s in strings:
            if not isinstance(s, (bytes, bytearray)):
                raise ValueError(f"latent {name!r} holds a {type(s).__name__}, not bytes")
            _check_int("string length", len(s), 0, MAX_VARINT)
    _check_int("side count", len(side), 0, MAX_COUNT)
    for name, value in side.items():
        _check_name("side", name)
        _check_int(f"side {name!r}", value, -(2**31), 2**31 - 1)
    _check_int("checksum", r.checksum, 0, 2**32 - 1)
    return Schema(r.kind, tuple((name, len(s)) for name, s in latents.items()), tuple(side))


def _dump_schema(s: Schema) -> bytes:
    latents = b"".join(_dump_name(name) + _U8.pack(count) for name, count in s.latents)
    side = b"".join(map(_dump_name, s.side))
    return bytes([_KINDS.index(s.kind), len(s.latents)]) + latents + _U8.pack(len(s.side)) + side


def dump_header(h: Header, schemas: Sequence[Schema] = ()) -> bytes:
    """The header's bytes, ``schemas`` (from :func:`check_record`) in its table; ValueError
    for any field out of range (so a header can be checked before any frame is coded)."""
    implementations = h.implementations
    if not isinstance(implementations, dict) or not all(
            isinstance(v, str) for v in implementations.values()):
        raise ValueError("implementations must map plugin names to strings")
    if not isinstance(h.weights_sha256, str) or not _SHA.fullmatch(h.weights_sha256):
        raise ValueError(f"weights_sha256 must be 16 or 64 lowercase hex chars, got {h.weights_sha256!r}")
    try:
        fps = Fraction(h.fps)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        raise ValueError(f"fps must be a positive fraction, got {h.fps!r}") from None
    _check_int("fps numerator", fps.numerator, 1, 2**32 - 1)
    _check_int("fps denominator", fps.denominator, 1, 2**32 - 1)
    fixed = FIXED.pack(
        bytes.fromhex(h.weights_sha256[:16]),
        _check_int("quality", h.quality, 0, 255),
        _check_int("width", h.width, 1, MAX_SIZE),
        _check_int("height", h.height, 1, MAX_SIZE),
        _check_int("frame_count", h.frame_count, 0, MAX_FRAMES),
        fps.numerator,
        fps.denominator,
        _check_int("intra_period", h.intra_period, 0, 65535),
        _check_int("schema count", len(schemas), 0, MAX_COUNT),
    )
    body = (_json_field("model spec", h.model) + _json_field("implementations", implementations)
            + fixed + b"".join(map(_dump_schema, schemas)))
    return PRELUDE.pack(MAGIC, VERSION, len(body)) + body + CRC.pack(zlib.crc32(body))


def _dump_record(r: FrameRecord, index: int) -> bytes:
    """A checked record's bytes, its schema being number ``index`` of the header's."""
    strings = [s for latent in r.payload.latents.values() for s in latent]
    body = b"".join([RECORD_HEAD.pack(index, r.checksum),
                     *(varint(_zigzag(v)) for v in r.payload.side.values()),
                     *(varint(len(s)) for s in strings), *strings])
    return body + RECORD_CRC.pack(record_crc(body))


def dumps(header: Header, records: Sequence[FrameRecord]) -> bytes:
    """Serialise a stream; ValueError for anything out of range."""
    if header.frame_count != len(records):
        raise ValueError(f"header says {header.frame_count} frames but {len(records)} records were given")
    schemas = [check_record(r) for r in records]
    index = {s: i for i, s in enumerate(dict.fromkeys(schemas))}  # in order of first use
    return b"".join([dump_header(header, list(index)),
                     *(_dump_record(r, index[s]) for r, s in zip(records, schemas))])


class _Reader:
    """Bounds-checked little-endian reads; ``short`` is the message when bytes run out."""

    def __init__(self, data: bytes | memoryview, short: str, pos: int = 0) -> None:
        self.data = memoryview(data)
        self.pos = pos
        self.short = short

    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> memoryview:
        if n > self.left():
            raise ZooError(self.short)
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def num(self, s: struct.Struct) -> int:
        return s.unpack(self.take(s.size))[0]

    def varint(self, invalid: str) -> int:
        """A minimal varint of at most MAX_VARINT; ZooError(``invalid``) for any other."""
        value = 0
        for shift in range(0, 7 * _VARINT_BYTES, 7):
            byte = self.num(_U8)
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > MAX_VARINT or (byte == 0 and shift):
                    break
                return value
        raise ZooError(invalid)

    def name(self, schema: int, what: str) -> str:
        name = bytes(self.take(self.num(_U8))).decode("latin-1")
        if not _NAME.fullmatch(name):
            raise ZooError(f"header is corrupt (schema {schema} has an invalid {what} name {name!r})")
        return name


def _load_json(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw.decode("ascii"))
    except (ValueError, RecursionError):
        raise ZooError(f"header is corrupt ({what} is not valid JSON)") from None
    if not isinstance(value, dict):
        raise ZooError(f"header is corrupt ({what} is not a JSON object)")
    try:
        canonical = _canonical_json(value) == raw
    except (ValueError, RecursionError):
        canonical = False
    if not canonical:
        raise ZooError(f"header is corrupt ({what} is not canonical JSON)")
    return value


def _in_range(what: str, value: int, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        raise ZooError(f"header field {what} = {value} is out of range ({lo}..{hi})")
    return value


def _load_schema(r: _Reader, i: int) -> Schema:
    """Schema ``i`` of the header's table."""
    kind = r.num(_U8)
    if kind >= len(_KINDS):
        raise ZooError(f"header is corrupt (schema {i} has unknown kind {kind})")
    latents = [(r.name(i, "latent"), r.num(_U8)) for _ in range(r.num(_U8))]
    side = [r.name(i, "side value") for _ in range(r.num(_U8))]
    for what, names in (("latent", [name for name, _ in latents]), ("side value", side)):
        repeated = [name for name in names if names.count(name) > 1]
        if repeated:
            raise ZooError(f"header is corrupt (schema {i} repeats {what} {repeated[0]!r})")
    return Schema(_KINDS[kind], tuple(latents), tuple(side))


def _load_schemas(r: _Reader, count: int) -> list[Schema]:
    schemas = [_load_schema(r, i) for i in range(count)]
    for i, s in enumerate(schemas):
        if s in schemas[:i]:
            raise ZooError(f"header is corrupt (schema {i} repeats schema {schemas.index(s)})")
    return schemas


def _record_head(r: _Reader, schemas: list[Schema], k: int) -> tuple[int, int, list[int], list[int]]:
    """A record's schema index, picture CRC, side values and string lengths."""
    index, checksum = RECORD_HEAD.unpack(r.take(RECORD_HEAD.size))
    if index >= len(schemas):
        raise ZooError(f"frame {k} is corrupt (no schema {index} in the header)")
    bad = f"frame {k} is corrupt (a varint is overlong or too large)"
    side = [_unzigzag(r.varint(bad)) for _ in schemas[index].side]
    return index, checksum, side, [r.varint(bad) for _ in range(schemas[index].strings)]


def _load_record(r: _Reader, schemas: list[Schema], k: int) -> tuple[FrameRecord, int]:
    """Record ``k`` and its schema index; ``r`` is left after its CRC."""
    start = r.pos
    index, checksum, side, lengths = _record_head(r, schemas, k)
    strings = iter([bytes(r.take(n)) for n in lengths])
    if r.num(RECORD_CRC) != record_crc(r.data[start : r.pos - RECORD_CRC.size]):
        raise ZooError(f"frame {k} is corrupt (checksum mismatch)")
    s = schemas[index]
    latents = {name: [next(strings) for _ in range(count)] for name, count in s.latents}
    return FrameRecord(s.kind, Payload(latents, dict(zip(s.side, side))), checksum), index


def _parse(data: bytes) -> tuple[Header, list[FrameRecord], list[int]]:
    """Parse and validate a whole stream; also return each record's size in bytes."""
    if not data:
        raise ZooError("bitstream is empty")
    if not MAGIC.startswith(bytes(data[:4])):
        raise ZooError("not a codec-zoo bitstream (bad magic)")
    r = _Reader(data, "header is truncated")
    _, version, length = PRELUDE.unpack(r.take(PRELUDE.size))
    if version != VERSION:
        raise ZooError(f"unsupported bitstream version {version} (this zoo reads version {VERSION})")
    if not MIN_HEADER <= length <= MAX_HEADER:
        raise ZooError(f"header is corrupt (bad header length {length})")
    body = r.take(length)
    if r.num(CRC) != zlib.crc32(body):
        raise ZooError("header is corrupt (checksum mismatch)")
    hb = _Reader(body, "header is corrupt (length mismatch)")
    model = _load_json(bytes(hb.take(hb.num(JSON_LENGTH))), "model spec")
    implementations = _load_json(bytes(hb.take(hb.num(JSON_LENGTH))), "implementations")
    if not all(isinstance(v, str) for v in implementations.values()):
        raise ZooError("header is corrupt (implementations are not strings)")
    sha, quality, width, height, count, num, den, intra, n_schemas = FIXED.unpack(hb.take(FIXED.size))
    schemas = _load_schemas(hb, n_schemas)
    if hb.left():
        raise ZooError("header is corrupt (length mismatch)")
    if num == 0 or den == 0 or Fraction(num, den).denominator != den:
        raise ZooError(f"header field fps = {num}/{den} is invalid (needs both > 0, in lowest terms)")
    header = Header(
        model=model,
        weights_sha256=sha.hex(),
        quality=quality,
        width=_in_range("width", width, 1, MAX_SIZE),
        height=_in_range("height", height, 1, MAX_SIZE),
        frame_count=_in_range("frame count", count, 0, MAX_FRAMES),
        fps=Fraction(num, den),
        intra_period=intra,
        implementations=implementations,
    )
    records: list[FrameRecord] = []
    sizes: list[int] = []
    used = 0  # schemas used so far: the next new one must be number ``used``
    for k in range(count):
        start = r.pos
        r.short = f"frame {k} is truncated"
        record, index = _load_record(r, schemas, k)
        if index > used:
            raise ZooError(f"frame {k} is corrupt (schema {index} comes before schema {used})")
        used = max(used, index + 1)
        records.append(record)
        sizes.append(r.pos - start)
    if used < len(schemas):
        raise ZooError(f"header is corrupt (schema {used} is never used)")
    if r.left():
        raise ZooError("trailing bytes after the last frame")
    return header, records, sizes


def loads(data: bytes) -> tuple[Header, list[FrameRecord]]:
    """Parse a stream; ZooError with a one-line message for anything malformed."""
    header, records, _ = _parse(data)
    return header, records


def record_sizes(data: bytes) -> list[int]:
    """Bytes taken by each frame record (schema index, picture CRC, varints, strings and
    record CRC), for per-frame bpp."""
    return _parse(data)[2]


@dataclass
class Layout:
    """Where the parts of a stream lie: absolute offsets and struct formats."""

    fields: dict[str, tuple[int, str]]  #: prelude, JSON length and fixed header fields
    header: tuple[int, int]  #: (start, end) of the header body; its CRC follows
    json: dict[str, tuple[int, int]]  #: (start, end) of the model spec and implementations JSON
    schemas: tuple[int, int]  #: (start, end) of the schema table (the rest of the header body)
    records: list[tuple[int, int]]  #: (start, end) of each record, its CRC included


def _offsets(start: int, formats: dict[str, str]) -> dict[str, tuple[int, str]]:
    out = {}
    for name, code in formats.items():
        out[name] = (start, "<" + code)
        start += struct.calcsize("<" + code)
    return out


def _record_spans(data: bytes, schemas: tuple[int, int], count: int, start: int) -> list[tuple[int, int]]:
    """(start, end) of each record from the schema table and the records' varints, as far
    as they can be read (the last one cut at the end of the data)."""
    spans: list[tuple[int, int]] = []
    try:
        table = _load_schemas(_Reader(data[: schemas[1]], "", schemas[0]), count)
        r = _Reader(data, "", start)
        while r.left() > 0:
            *_, lengths = _record_head(r, table, len(spans))
            end = r.pos + sum(lengths) + RECORD_CRC.size
            spans.append((start, min(end, len(data))))
            start = r.pos = end
    except ZooError:
        pass
    return spans


def layout(data: bytes) -> Layout:
    """Read the layout from the length fields, the schemas and the varints alone, checking
    no CRC (struct.error if the data is too short for the header's fixed fields): for tools
    that edit streams."""
    fields = _offsets(0, PRELUDE_FIELDS)
    (length,) = _U32.unpack_from(data, fields["header length"][0])
    json_spans, pos = {}, PRELUDE.size
    for what in JSON_FIELDS:
        fields[f"{what} length"] = (pos, JSON_LENGTH.format)
        start = pos + JSON_LENGTH.size
        json_spans[what] = (start, start + JSON_LENGTH.unpack_from(data, pos)[0])
        pos = json_spans[what][1]
    fields.update(_offsets(pos, FIXED_FIELDS))
    (count,) = _U8.unpack_from(data, fields["schema count"][0])
    header = (PRELUDE.size, PRELUDE.size + length)
    schemas = (pos + FIXED.size, header[1])
    return Layout(fields, header, json_spans, schemas,
                  _record_spans(data, schemas, count, header[1] + CRC.size))


def write(path: str | os.PathLike[str], header: Header, records: Sequence[FrameRecord]) -> int:
    """Write a stream atomically (temp file + rename); return the bytes written."""
    data = dumps(header, records)
    try:
        write_bytes(path, data)
    except OSError as e:
        raise ZooError(f"cannot write {path}: {e.strerror or e}") from None
    return len(data)


def read(path: str | os.PathLike[str]) -> tuple[Header, list[FrameRecord]]:
    """Read and parse a stream file; ZooError if it is missing, unreadable, not a regular
    file (a FIFO, a device), too big or malformed. Its size is checked before any read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
        with open(fd, "rb") as f:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ZooError(f"cannot read {path}: not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise ZooError(f"{path} is too large to be a bitstream (over 4 GiB)")
            data = f.read(info.st_size)
    except OSError as e:
        raise ZooError(f"cannot read {path}: {e.strerror or e}") from None
    return loads(data)
