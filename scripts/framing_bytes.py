#!/usr/bin/env python
"""Bytes of container framing in ``.czoo`` streams: everything but the entropy-coded
strings, for the stream header and per frame type (issue 14, the rate floor).

    zoo run --untrained --plugins dis-flow,x265-intra --frames 4 --quality 0 \\
        --input ../shared/data/dev/vt2people_320x192_12.y4m --out /tmp/framing
    python scripts/framing_bytes.py /tmp/framing/dis-flow-x265-intra/vt2people_320x192_12.bin

A record's framing is its size minus the lengths of its strings; the stream's is the
file size minus all the strings (so the header, schema table included, counts there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoo.io import bitstream


def framing(data: bytes) -> dict:
    """Framing bytes of a stream: in all, in the header, and per frame of each kind (mean)."""
    header, records = bitstream.loads(data)
    sizes = bitstream.record_sizes(data)
    strings = [sum(len(s) for latent in r.payload.latents.values() for s in latent) for r in records]
    per_kind: dict[str, list[int]] = {}
    for record, size, coded in zip(records, sizes, strings):
        per_kind.setdefault(record.kind, []).append(size - coded)
    pixels = header.width * header.height
    return {"version": bitstream.VERSION, "bytes": len(data), "string_bytes": sum(strings),
            "framing_bytes": len(data) - sum(strings), "header_bytes": len(data) - sum(sizes),
            **{f"{kind}_frame_framing_bytes": sum(v) / len(v) for kind, v in sorted(per_kind.items())},
            **{f"{kind}_frame_framing_bpp": 8 * sum(v) / len(v) / pixels
               for kind, v in sorted(per_kind.items())}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("streams", type=Path, nargs="+", help=".bin files written by zoo encode or zoo run")
    for path in p.parse_args(argv).streams:
        figures = framing(path.read_bytes())
        print(f"{path}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
