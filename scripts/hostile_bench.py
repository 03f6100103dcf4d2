#!/usr/bin/env python
"""Peak memory and wall time of ``zoo decode`` on the crafted streams of
``tests/hostile/streams.py``, by default at the largest frame size the decoder allows:
the figures behind the bounds ``docs/reliability.md`` states.

Each stream is generated in a process of its own, then decoded by ``python -m zoo
decode`` in another, whose peak RSS (``ru_maxrss`` from ``wait4``) and wall time are
reported beside its outcome (exit code and error). Budgets are not asserted here or in
the tests: this script measures them.

    python scripts/hostile_bench.py                                # every case, 4096x2304
    python scripts/hostile_bench.py --size 1024x576 --cases refiner-256x8 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (what it is, the expression that makes the stream, from ``hostile.streams``)
CASES = {
    "gmm-abs-max-255": ("GMM I-frame whose side information asks abs_max 255 for every latent",
                        "streams.gmm_side_info({w}, {h})"),
    "refiner-512x40": ("I, then a P-frame through a refiner of 512 channels x 40 blocks (refused)",
                       "streams.costly_model({w}, {h}, streams.REFINER_512x40)"),
    "refiner-128x40": ("I, then a P-frame through a refiner of 128 channels x 40 blocks (refused)",
                       "streams.costly_model({w}, {h}, streams.REFINER_128x40)"),
    "refiner-256x8": ("I, then a P-frame through a refiner of 256 channels x 8 blocks "
                      "(refused at large sizes: memory)",
                      "streams.costly_model({w}, {h}, streams.REFINER_256x8)"),
    "refiner-128x32": ("I, then a P-frame through a refiner of 128 channels x 32 blocks, "
                       "within every budget", "streams.costly_model({w}, {h}, streams.REFINER_128x32)"),
    "frames-1": ("one real I-frame", "streams.many_frames({w}, {h}, 1)"),
    "frames-N": ("the same I-frame N times (--frames)", "streams.many_frames({w}, {h}, {frames})"),
    "dev-zero": ("a .bin linked to /dev/zero", None),
    "small-6GiB-as": ("a 72x48 stream decoded under a 6 GiB address-space limit",
                      "bitstream.dumps(*streams.real_stream())"),
}
MAKE = """
import sys
sys.path.insert(0, {tests!r})
from hostile import streams
from zoo.io import bitstream
from zoo.io.atomic import write_bytes
write_bytes({path!r}, {expression})
"""
ADDRESS_SPACE = 6 << 30


def largest_size() -> tuple[int, int]:
    """The largest 16:9-ish frame the decoder's pixel limit allows: 4096x2304 by default."""
    sys.path.insert(0, str(ROOT))
    from zoo.core.coding import max_pixels
    width = 4096
    return width, max_pixels() // width


def run(case: str, width: int, height: int, frames: int, threads: int, folder: Path) -> dict:
    what, expression = CASES[case]
    stream = folder / f"{case}.bin"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    if expression is None:
        os.symlink("/dev/zero", stream)
    else:
        code = MAKE.format(tests=str(ROOT / "tests"), path=str(stream),
                           expression=expression.format(w=width, h=height, frames=frames))
        subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT,
                       stderr=subprocess.DEVNULL)
    generated = time.perf_counter() - started

    def limit() -> None:
        if case == "small-6GiB-as":
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    with open(folder / "stderr.txt", "w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "zoo", "decode", str(stream), "-o",
                                 str(folder / "out.y4m")], stdout=subprocess.DEVNULL, stderr=err,
                                env=env, cwd=ROOT, preexec_fn=limit)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        err.seek(0)
        lines = [line for line in err.read().splitlines() if line.strip()]
    (folder / "out.y4m").unlink(missing_ok=True)
    return {"case": case, "what": what, "size": f"{width}x{height}", "frames": frames,
            "threads": threads, "stream_bytes": stream.lstat().st_size if expression else 0,
            "exit": proc.returncode, "outcome": lines[-1][:300] if lines else "decoded",
            "decode_seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "generate_seconds": round(generated, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", help="WIDTHxHEIGHT (default: the largest the decoder allows)")
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated, of: " + ", ".join(CASES))
    p.add_argument("--frames", type=int, default=8, help="N of frames-N")
    p.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of every process")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args(argv)
    width, height = map(int, args.size.split("x")) if args.size else largest_size()
    results = []
    for case in args.cases.split(","):
        with tempfile.TemporaryDirectory() as folder:
            r = run(case, width, height, args.frames, args.threads, Path(folder))
        results.append(r)
        print(f"{r['case']:16s} {r['size']:>10s} exit {r['exit']:3d}  {r['decode_seconds']:8.1f} s  "
              f"{r['peak_rss_mb']:7d} MB  {r['stream_bytes']:8d} B  {r['outcome'][:110]}", flush=True)
    if args.json:
        from zoo.io.atomic import write_text
        write_text(args.json, json.dumps({"command": " ".join(sys.argv), "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
