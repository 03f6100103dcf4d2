"""The .czoo container: round trips, exact validation and robustness to hostile input."""

from __future__ import annotations

import os
import random
import struct
import zlib
from fractions import Fraction

import pytest

from zoo.errors import ZooError
from zoo.io import bitstream as bs
from zoo.io.bitstream import FrameRecord, Header
from zoo.slots import Payload

SHA = "0123456789abcdef" + "fedcba9876543210" * 3
MODEL = {"name": "cmfr2025", "plugins": ["cmfr", "sff"], "preset": "lite", "options": {}, "untrained": False}


def header(frames: int, **kw) -> Header:
    fields = dict(
        model=MODEL, weights_sha256=SHA, quality=3, width=416, height=240,
        frame_count=frames, fps=Fraction(30000, 1001), intra_period=32,
        implementations={"*": "codec-zoo 0.1.0", "sff": "zoo-sff 2.0"},
    )
    return Header(**{**fields, **kw})


def records() -> list[FrameRecord]:
    return [
        FrameRecord("I", Payload({"y": [b"\x01\x02\x03", b""], "z": [b"zz"]}), 2**32 - 1),
        FrameRecord("P", Payload({"motion": [b"m" * 40, b"n"], "residual": [b"r" * 17, b""]}, {"member": 2, "neg": -7}), 7),
        FrameRecord("P", Payload({}, {})),
        FrameRecord("P", Payload({"res_2-x": []}, {"q": 2**31 - 1, "lo": -(2**31)}), 123456789),
    ]


def small() -> bytes:
    """A short stream with one record of each shape, for exhaustive mutation."""
    recs = [FrameRecord("I", Payload({"y": [b"ab"]})), FrameRecord("P", Payload({"m": [b""]}, {"k": 1}))]
    return bs.dumps(header(2, model={"n": "x"}), recs)


def zoo_error(data: bytes) -> str:
    """The one-line message loads gives for bad data."""
    with pytest.raises(ZooError) as e:
        bs.loads(data)
    message = str(e.value)
    assert message and "\n" not in message
    return message


def header_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the header body."""
    return bs.layout(data).header


def fix_header_crc(data: bytearray) -> None:
    start, end = header_span(data)
    data[end : end + bs.CRC.size] = bs.CRC.pack(zlib.crc32(data[start:end]))


#: the fixed header fields a test edits (the weights hash is bytes, not a number)
FIELDS = [name for name in bs.FIXED_FIELDS if name != "weights sha256"]


def edit_field(data: bytes, name: str, value: int) -> bytes:
    out = bytearray(data)
    offset, fmt = bs.layout(data).fields[name]
    struct.pack_into(fmt, out, offset, value)
    fix_header_crc(out)
    return bytes(out)


def with_model_json(data: bytes, raw: bytes) -> bytes:
    """Replace the model spec with ``raw``, fixing lengths and CRC."""
    lay = bs.layout(data)
    (start, end), (spec_start, spec_end) = lay.header, lay.json["model spec"]
    body = data[start : spec_start - bs.JSON_LENGTH.size] + bs.JSON_LENGTH.pack(len(raw)) + raw + data[spec_end:end]
    prelude = bytearray(data[:start])
    offset, fmt = lay.fields["header length"]
    struct.pack_into(fmt, prelude, offset, len(body))
    return bytes(prelude) + body + bs.CRC.pack(zlib.crc32(body)) + data[end + bs.CRC.size :]


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each frame record, found from their length fields alone."""
    return bs.layout(data).records


def test_round_trip() -> None:
    h, recs = header(4), records()
    data = bs.dumps(h, recs)
    h2, recs2 = bs.loads(data)
    assert recs2 == recs
    assert h2 == header(4, weights_sha256=SHA[:16])
    assert bs.dumps(h2, recs2) == data


def test_round_trip_empty_stream_and_integer_fps() -> None:
    h = header(0, fps=Fraction(25), intra_period=0, quality=255, width=16384, height=1)
    assert bs.loads(bs.dumps(h, [])) == (header(0, fps=Fraction(25), intra_period=0, quality=255,
                                                width=16384, height=1, weights_sha256=SHA[:16]), [])


def test_write_read(tmp_path) -> None:
    path = tmp_path / "clip.czoo"
    n = bs.write(path, header(4), records())
    assert n == path.stat().st_size
    assert path.read_bytes() == bs.dumps(header(4), records())
    assert bs.read(str(path)) == (header(4, weights_sha256=SHA[:16]), records())
    assert os.listdir(tmp_path) == ["clip.czoo"]


def test_sha_is_stored_as_its_16_hex_prefix() -> None:
    data = bs.dumps(header(0), [])
    assert bytes.fromhex(SHA[:16]) in data and bytes.fromhex(SHA[16:32]) not in data
    assert bs.loads(data)[0].weights_sha256 == SHA[:16]
    assert bs.dumps(header(0, weights_sha256=SHA[:16]), []) == data


def test_record_sizes_cover_the_stream_after_the_header() -> None:
    data = bs.dumps(header(4), records())
    sizes = bs.record_sizes(data)
    # each record: schema index and picture CRC (5), record CRC (2), then a varint per side
    # value and per string length, and the strings
    varints_and_strings = [
        (0 + 3) + (3 + 0 + 2),
        (1 + 1 + 1 + 1 + 1 + 1) + (40 + 1 + 17 + 0),  # zigzag 2 and -7: 4 and 13, one byte each
        0,
        5 + 5,  # 2**31 - 1 and -2**31: zigzag 2**32 - 2 and 2**32 - 1, five bytes each
    ]
    framing = bs.RECORD_HEAD.size + bs.RECORD_CRC.size
    assert sizes == [framing + n for n in varints_and_strings] == [7 + n for n in varints_and_strings]
    assert header_span(data)[1] + 4 + sum(sizes) == len(data)
    assert [end - start for start, end in record_spans(data)] == sizes


def p_frame_framing(*strings: bytes, side: dict[str, int] | None = None) -> int:
    """Bytes a P-frame record of one latent holding ``strings`` takes beside them."""
    recs = [FrameRecord("P", Payload({"residual": list(strings)}, side or {}))]
    data = bs.dumps(header(1, intra_period=0), recs)
    return bs.record_sizes(data)[0] - sum(map(len, strings))


def test_a_p_frame_of_one_string_costs_a_few_bytes_of_framing() -> None:
    """Issue 14: the rate floor. Schema index 1, picture CRC 4, the length's varint, record CRC 2."""
    assert p_frame_framing(b"") == p_frame_framing(b"r" * 127) == 8
    assert p_frame_framing(b"r" * 128) == p_frame_framing(b"r" * 16383) == 9
    assert p_frame_framing(b"r" * 16384) == 10
    assert p_frame_framing(b"r" * 100, side={"member": 3}) == 9
    # the default pipeline's P-frame: two latents of two strings, each under 16 KB
    two = [FrameRecord("P", Payload({"motion": [b"m" * 300, b"z" * 20], "residual": [b"r" * 900, b"w" * 40]}))]
    assert bs.record_sizes(bs.dumps(header(1), two))[0] - 1260 == 5 + 2 + 1 + 2 + 1 + 2 == 13


@pytest.mark.parametrize("value", [0, 1, 2, 127, 128, 255, 300, 16383, 16384, 2**21 - 1, 2**21,
                                   2**28 - 1, 2**28, 2**31, 2**32 - 1])
def test_varints_round_trip(value: int) -> None:
    raw = bs.varint(value)
    assert len(raw) == max(1, -(-value.bit_length() // 7))
    assert all(b & 0x80 for b in raw[:-1]) and not raw[-1] & 0x80
    reader = bs._Reader(raw + b"tail", "short")
    assert reader.varint("bad") == value and reader.pos == len(raw)


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x80\x00", "bad"),  # overlong: 0 in two bytes
    (b"\xff\x00", "bad"),  # overlong: 127 in two bytes
    (b"\x80\x80\x80\x80\x10", "bad"),  # 2**32
    (b"\xff\xff\xff\xff\x7f", "bad"),  # 2**35 - 1
    (b"\x80\x80\x80\x80\x80\x01", "bad"),  # six bytes
    (b"", "short"),
    (b"\x80", "short"),
    (b"\xff\xff", "short"),
])
def test_varint_reader_refuses_overlong_large_and_cut_varints(raw: bytes, message: str) -> None:
    with pytest.raises(ZooError, match=f"^{message}$"):
        bs._Reader(raw, "short").varint("bad")


def test_side_values_round_trip_through_zigzag() -> None:
    values = [0, -1, 1, -2, 2, 63, -64, 64, -65, 2**31 - 1, -(2**31)]
    side = {f"s{i}": v for i, v in enumerate(values)}
    recs = [FrameRecord("I", Payload({}, side))]
    data = bs.dumps(header(1), recs)
    assert bs.loads(data)[1] == recs
    zigzag = [2 * v if v >= 0 else -2 * v - 1 for v in values]
    assert bs.record_sizes(data) == [7 + sum(len(bs.varint(z)) for z in zigzag)]


def test_schemas_are_written_once_in_order_of_first_use() -> None:
    recs = [FrameRecord("I", Payload({"y": [b"a"]})), FrameRecord("P", Payload({"m": [b"b"]})),
            FrameRecord("P", Payload({"m": [b"c"]})), FrameRecord("I", Payload({"y": [b"d"]})),
            FrameRecord("P", Payload({"m": [b"e", b"f"]}))]
    data = bs.dumps(header(5), recs)
    lay = bs.layout(data)
    assert data[slice(*lay.schemas)] == b"\x00\x01\x01y\x01\x00" b"\x01\x01\x01m\x01\x00" b"\x01\x01\x01m\x02\x00"
    assert data.count(b"\x01m") == 2  # in the header only
    assert [data[start] for start, _ in lay.records] == [0, 1, 1, 0, 2]
    assert bs.loads(data)[1] == recs


def test_every_truncation_raises() -> None:
    data = small()
    for n in range(len(data)):
        zoo_error(data[:n])
    assert zoo_error(data[:-1]) == "frame 1 is truncated"
    assert zoo_error(data[:3]) == "header is truncated"


def test_every_bit_flip_raises() -> None:
    data = small()
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        zoo_error(bytes(flipped))


def test_random_mutations_are_rejected_or_canonical() -> None:
    rng = random.Random(0)
    streams = [small(), bs.dumps(header(4), records()), bs.dumps(header(0, model={}), [])]
    outcomes = {"error": 0, "ok": 0}
    for _ in range(500):
        data = bytearray(rng.choice(streams))
        op = rng.choice(["flip", "insert", "delete", "splice", "field", "record"])
        if op == "flip":
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif op == "insert":
            data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
        elif op == "delete":
            del data[rng.randrange(len(data)) :][: rng.randint(1, 8)]
        elif op == "splice":
            other = rng.choice(streams)
            data = data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
        elif op == "field":
            name = rng.choice(FIELDS)
            bits = 8 * struct.calcsize(bs.FIXED_FIELDS[name])
            value = rng.choice([0, 1, 2, 16384, 16385, 2**bits - 1, rng.randrange(2**bits), rng.randrange(8)])
            data = bytearray(edit_field(bytes(data), name, value % 2**bits))
        else:  # overwrite a byte inside a record and fix its CRC, to reach the record parser
            data = bytearray(rng.choice(streams[:2]))
            start, end = rng.choice(record_spans(bytes(data)))
            crc = end - bs.RECORD_CRC.size
            data[rng.randrange(start, crc)] = rng.randrange(256)
            data[crc:end] = bs.RECORD_CRC.pack(bs.record_crc(data[start:crc]))
        try:
            result = bs.loads(bytes(data))
        except ZooError as e:
            assert str(e) and "\n" not in str(e)
            outcomes["error"] += 1
        else:
            assert bs.dumps(*result) == data
            outcomes["ok"] += 1
    assert outcomes["error"] > 100 and outcomes["ok"] > 10, outcomes


def test_messages_for_foreign_input() -> None:
    data = small()
    assert zoo_error(b"") == "bitstream is empty"
    assert zoo_error(random.Random(1).randbytes(300).replace(b"C", b"x")) == "not a codec-zoo bitstream (bad magic)"
    assert zoo_error(b"RIFF" + data[len(bs.MAGIC):]) == "not a codec-zoo bitstream (bad magic)"
    assert zoo_error(b"CZ") == "header is truncated"
    offset, fmt = bs.layout(data).fields["version"]
    for version in (7, 2, 1):
        edited = bytearray(data)
        struct.pack_into(fmt, edited, offset, version)
        assert zoo_error(bytes(edited)) == \
            f"unsupported bitstream version {version} (this zoo reads version 3)"


def test_messages_for_corruption() -> None:
    data = small()
    spans = record_spans(data)
    body = header_span(data)[0] + 3
    assert zoo_error(data[:body] + bytes([data[body] ^ 4]) + data[body + 1 :]) == "header is corrupt (checksum mismatch)"
    for at in (spans[0][0] + 6, spans[1][0] + 1, spans[1][0] + 5):  # a string, the picture CRC, a side value
        assert zoo_error(data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]) == \
            f"frame {int(at > spans[1][0])} is corrupt (checksum mismatch)"
    assert zoo_error(data + b"\0") == "trailing bytes after the last frame"
    assert zoo_error(data[: spans[1][0]]) == "frame 1 is truncated"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("width", 0, "header field width = 0 is out of range (1..16384)"),
        ("height", 16385, "header field height = 16385 is out of range (1..16384)"),
        ("frame count", 1_000_001, "header field frame count = 1000001 is out of range (0..1000000)"),
        ("fps den", 0, "header field fps = 30000/0 is invalid (needs both > 0, in lowest terms)"),
        ("fps num", 0, "header field fps = 0/1001 is invalid (needs both > 0, in lowest terms)"),
        ("fps num", 2002, "header field fps = 2002/1001 is invalid (needs both > 0, in lowest terms)"),
        ("frame count", 3, "frame 2 is truncated"),
        ("frame count", 1, "header is corrupt (schema 1 is never used)"),
        ("schema count", 1, "header is corrupt (length mismatch)"),
        ("schema count", 3, "header is corrupt (length mismatch)"),
    ],
)
def test_header_fields_out_of_range(name: str, value: int, message: str) -> None:
    assert zoo_error(edit_field(small(), name, value)) == message


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[1]", "not a JSON object"),
        (b'"spec"', "not a JSON object"),
        (b'{"a"}', "not valid JSON"),
        (b"[" * 2000 + b"]" * 2000, "not valid JSON"),
        (b'{"n":"\xc3\xa9"}', "not valid JSON"),
        (b'{"n": "x"}', "not canonical JSON"),
        (b'{"a":1,"a":2}', "not canonical JSON"),
        (b'{"a":NaN}', "not canonical JSON"),
        (b'{"a":1.50}', "not canonical JSON"),
    ],
)
def test_bad_model_spec(raw: bytes, reason: str) -> None:
    assert zoo_error(with_model_json(small(), raw)) == f"header is corrupt (model spec is {reason})"


def test_implementations_must_be_a_json_object_of_strings() -> None:
    lay = bs.layout(small())
    (start, end), (json_start, json_end) = lay.header, lay.json["implementations"]
    for raw, reason in ((b'{"x":1}', "implementations are not strings"),
                        (b"[]", "implementations is not a JSON object")):
        data = bytearray(small()[:json_start - bs.JSON_LENGTH.size] + bs.JSON_LENGTH.pack(len(raw)) + raw
                         + small()[json_end:])
        offset, fmt = lay.fields["header length"]
        struct.pack_into(fmt, data, offset, end - start + len(raw) - (json_end - json_start))
        fix_header_crc(data)
        assert zoo_error(bytes(data)) == f"header is corrupt ({reason})"


def test_layout_names_every_field() -> None:
    data = bs.dumps(header(4), records())
    lay = bs.layout(data)
    assert list(lay.fields) == [*bs.PRELUDE_FIELDS, "model spec length", "implementations length",
                                *bs.FIXED_FIELDS]
    read = {name: struct.unpack_from(fmt, data, offset)[0] for name, (offset, fmt) in lay.fields.items()}
    assert read["magic"] == bs.MAGIC and read["version"] == bs.VERSION == 3
    assert (read["width"], read["height"], read["frame count"], read["intra period"]) == (416, 240, 4, 32)
    assert read["schema count"] == 4 and lay.schemas == (lay.fields["schema count"][0] + 1, lay.header[1])
    assert data[slice(*lay.json["implementations"])] == b'{"*":"codec-zoo 0.1.0","sff":"zoo-sff 2.0"}'
    heads = [bs.RECORD_HEAD.unpack_from(data, start) for start, _ in lay.records]
    assert heads == [(0, 2**32 - 1), (1, 7), (2, 0), (3, 123456789)]


def test_layout_of_a_damaged_stream_stops_where_records_cannot_be_delimited() -> None:
    data = small()
    spans = record_spans(data)
    assert record_spans(data[:-1]) == [spans[0], (spans[1][0], len(data) - 1)]
    assert record_spans(data[: spans[1][0]] + b"\x09" + data[spans[1][0] + 1 :]) == spans[:1]  # no schema 9


def test_header_length_checked() -> None:
    offset, fmt = bs.layout(small()).fields["header length"]
    for length in (bs.MIN_HEADER - 1, bs.MAX_HEADER + 1):
        data = bytearray(small())
        struct.pack_into(fmt, data, offset, length)
        assert zoo_error(bytes(data)) == f"header is corrupt (bad header length {length})"
    # a consistent CRC over a body with an extra byte: the fields no longer add up
    start, end = header_span(small())
    body = small()[start:end] + b"\0"
    extra = bs.PRELUDE.pack(bs.MAGIC, bs.VERSION, len(body)) + body + bs.CRC.pack(zlib.crc32(body))
    assert zoo_error(extra + small()[end + bs.CRC.size :]) == "header is corrupt (length mismatch)"


def record_edit(data: bytes, record: int, offset: int, new: bytes, drop: int = 0) -> bytes:
    """Splice ``new`` over ``drop`` bytes at ``offset`` into a record (before its CRC); fix the CRC."""
    start, end = record_spans(data)[record]
    body = data[start : end - bs.RECORD_CRC.size]
    body = body[:offset] + new + body[offset + drop :]
    return data[:start] + body + bs.RECORD_CRC.pack(bs.record_crc(body)) + data[end:]


def table_edit(data: bytes, offset: int, new: bytes, drop: int = 0) -> bytes:
    """Splice ``new`` over ``drop`` bytes at ``offset`` into the schema table; fix the header's
    length and CRC."""
    lay = bs.layout(data)
    at = lay.schemas[0] + offset
    out = bytearray(data[:at] + new + data[at + drop :])
    struct.pack_into(lay.fields["header length"][1], out, lay.fields["header length"][0],
                     lay.header[1] - lay.header[0] + len(new) - drop)
    fix_header_crc(out)
    return bytes(out)


def test_record_checks() -> None:
    data = small()  # record 1: 01 <picture CRC> 02 (side k = 1) 00 (string length) <CRC-16>
    bad_varint = "frame 1 is corrupt (a varint is overlong or too large)"
    assert zoo_error(record_edit(data, 1, 5, b"\x82\x00", 1)) == bad_varint
    assert zoo_error(record_edit(data, 1, 6, b"\x80\x80\x80\x80\x10", 1)) == bad_varint
    assert zoo_error(record_edit(data, 1, 6, b"\x09", 1)) == "frame 1 is truncated"  # a longer string
    assert zoo_error(record_edit(data, 1, 0, b"\x02", 1)) == "frame 1 is corrupt (no schema 2 in the header)"
    longer = record_edit(record_edit(data, 1, 6, b"\x03", 1), 1, 7, b"abc")  # consistent: canonical
    assert bs.loads(longer)[1][1].payload.latents == {"m": [b"abc"]}


def test_schema_order_is_canonical() -> None:
    recs = [FrameRecord("I", Payload({"y": [b"ab"]})), FrameRecord("P", Payload({"y": [b"cd"]}))]
    data = bs.dumps(header(2), recs)  # schemas 0 and 1 differ by their kind only
    swapped = record_edit(record_edit(data, 0, 0, b"\x01", 1), 1, 0, b"\x00", 1)
    assert zoo_error(swapped) == "frame 0 is corrupt (schema 1 comes before schema 0)"
    assert zoo_error(record_edit(data, 1, 0, b"\x00", 1)) == "header is corrupt (schema 1 is never used)"
    assert zoo_error(table_edit(data, 6, b"\x00", 1)) == "header is corrupt (schema 1 repeats schema 0)"


def test_schema_table_checks() -> None:
    data = small()  # schemas: 00 01 01 'y' 01 00 | 01 01 01 'm' 01 01 01 'k'
    assert zoo_error(table_edit(data, 6, b"\x02", 1)) == "header is corrupt (schema 1 has unknown kind 2)"
    assert zoo_error(table_edit(data, 9, b"M", 1)) == "header is corrupt (schema 1 has an invalid latent name 'M')"
    assert zoo_error(table_edit(data, 8, b"\x00", 2)) == "header is corrupt (schema 1 has an invalid latent name '')"
    assert zoo_error(table_edit(data, 8, b"\x02", 1)) == \
        "header is corrupt (schema 1 has an invalid latent name 'm\\x01')"
    assert zoo_error(table_edit(data, 13, b"K", 1)) == \
        "header is corrupt (schema 1 has an invalid side value name 'K')"
    twice = table_edit(table_edit(data, 7, b"\x02", 1), 11, b"\x01m\x00")
    assert zoo_error(twice) == "header is corrupt (schema 1 repeats latent 'm')"
    sides = table_edit(table_edit(data, 11, b"\x02", 1), 14, b"\x01k")
    assert zoo_error(sides) == "header is corrupt (schema 1 repeats side value 'k')"
    assert zoo_error(table_edit(data, 14, b"\x00")) == "header is corrupt (length mismatch)"


@pytest.mark.parametrize(
    ("h", "recs"),
    [
        (header(1), [FrameRecord("B", Payload({}))]),
        (header(1), [FrameRecord("I", Payload({"Y": [b""]}))]),
        (header(1), [FrameRecord("I", Payload({"y" * 33: [b""]}))]),
        (header(1), [FrameRecord("I", Payload({"": [b""]}))]),
        (header(1), [FrameRecord("I", Payload({"y": [b""] * 256}))]),
        (header(1), [FrameRecord("I", Payload({"y": ["text"]}))]),  # type: ignore[list-item]
        (header(1), [FrameRecord("I", Payload({f"l{i}": [] for i in range(256)}))]),
        (header(1), [FrameRecord("I", Payload({}, {"s": 2**31}))]),
        (header(1), [FrameRecord("I", Payload({}, {"s": True}))]),
        (header(1), [FrameRecord("I", Payload({}, {"s ": 1}))]),
        (header(2), [FrameRecord("I", Payload({}))]),
        (header(256), [FrameRecord("I", Payload({f"l{i}": []})) for i in range(256)]),  # 256 schemas
        (header(0, width=0), []),
        (header(0, height=16385), []),
        (header(0, quality=256), []),
        (header(0, intra_period=-1), []),
        (header(0, fps=Fraction(0)), []),
        (header(0, fps=Fraction(1, 2**32)), []),
        (header(0, weights_sha256="abc"), []),
        (header(0, weights_sha256=SHA.upper()), []),
        (header(0, model=["x"]), []),
        (header(0, model={"x": {1, 2}}), []),
        (header(0, model={"x": (1, 2)}), []),
        (header(0, model={1: "x"}), []),
        (header(0, model={"x": float("nan")}), []),
        (header(0, model={"x": "y" * 4096}), []),
        (header(1), [FrameRecord("I", Payload({"y": "hello"}))]),  # type: ignore[dict-item]
        (header(1), [FrameRecord("I", Payload({"y": 42}))]),  # type: ignore[dict-item]
        (header(1), [FrameRecord("I", "payload")]),  # type: ignore[arg-type]
        (header(1), [FrameRecord("I", Payload({}), -1)]),
        (header(1), [FrameRecord("I", Payload({}), 2**32)]),
        (header(0, implementations={"x": 1}), []),
        (header(0, implementations=["x"]), []),
        (header(0, fps="fast"), []),
    ],
)
def test_writer_rejects_bad_input(h: Header, recs: list[FrameRecord]) -> None:
    with pytest.raises(ValueError):
        bs.dumps(h, recs)


def test_atomic_write_leaves_nothing_on_serialisation_error(tmp_path) -> None:
    path = tmp_path / "out.czoo"
    with pytest.raises(ValueError):
        bs.write(path, header(1), [FrameRecord("I", Payload({"Bad Name": [b""]}))])
    assert not path.exists() and os.listdir(tmp_path) == []


def test_atomic_write_keeps_old_file_and_removes_temp_on_io_error(tmp_path, monkeypatch) -> None:
    path = tmp_path / "out.czoo"
    path.write_bytes(b"old")

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bs.os, "replace", fail)
    with pytest.raises(ZooError, match="cannot write .*out.czoo: No space left on device"):
        bs.write(path, header(4), records())
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.czoo"]


def test_write_into_missing_directory(tmp_path) -> None:
    with pytest.raises(ZooError, match="cannot write"):
        bs.write(tmp_path / "nope" / "out.czoo", header(0), [])


def test_read_errors(tmp_path, monkeypatch) -> None:
    with pytest.raises(ZooError, match="cannot read .*missing.czoo"):
        bs.read(tmp_path / "missing.czoo")
    with pytest.raises(ZooError, match="cannot read"):
        bs.read(tmp_path)
    path = tmp_path / "big.czoo"
    bs.write(path, header(4), records())
    monkeypatch.setattr(bs, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(ZooError, match="is too large to be a bitstream"):
        bs.read(path)
    (tmp_path / "empty.czoo").write_bytes(b"")
    monkeypatch.undo()
    with pytest.raises(ZooError, match="bitstream is empty"):
        bs.read(tmp_path / "empty.czoo")
