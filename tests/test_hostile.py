"""The hostile corpus of issue 16 (tests/hostile/): every crafted case ends as it must,
one line and exit code 2, or success; plus SIGTERM during a write, which needs a process
of its own. How long the crafted streams take, and how much memory, at the largest frame
size the decoder allows, is measured by scripts/hostile_bench.py (docs/reliability.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from hostile import KINDS, Case, all_cases, streams
from zoo.cli import main
from zoo.core.manager import LoadPolicy, Zoo
from zoo.io import bitstream

CASES = all_cases()


@contextmanager
def hang_guard(seconds: int):
    """A case that blocks (a FIFO opened, a coder looping) fails instead of hanging the suite."""
    def hung(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: it hangs")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def one_line_error(stderr: str) -> str:
    """The ``error:`` line, the only one (a warning about untrained weights may precede it)."""
    text = stderr.strip()
    assert text.count("error:") == 1 and "Traceback" not in text, text[-2000:]
    error = text[text.index("error:"):]
    assert len(error.splitlines()) == 1, text[-2000:]
    return error


def test_every_class_has_cases():
    assert {case.kind for case in CASES} == set(KINDS)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_case(case: Case, tmp_path, monkeypatch, capsys):
    run = case.make(tmp_path)
    for name, value in run.env.items():
        monkeypatch.setenv(name, value)
    if run.site or run.plugins:  # this case's zoo, for this test only
        if run.site:
            monkeypatch.syspath_prepend(str(run.site))
        zoo = Zoo.discover(LoadPolicy.from_env())
        for name, plugin in run.plugins.items():
            assert zoo.add(name, plugin), zoo.broken
        monkeypatch.setattr(Zoo, "load", classmethod(lambda cls, fresh=False: zoo))
    with hang_guard(300):
        code = main(run.argv)
    out, err = capsys.readouterr()
    if case.error is None:
        assert code == 0, err[-2000:]
    else:
        assert code == 2, (code, err[-2000:])
        assert case.error in one_line_error(err), err
    if case.check:
        case.check(tmp_path, out)


def writing(folder: Path, output: str) -> bool:
    """Whether the temporary output beside ``output`` holds frames."""
    temps = [p for p in folder.iterdir() if p.name.startswith(f".{output}.")]
    return any(len(list(p.iterdir())) > 1 if p.is_dir() else p.stat().st_size > 3 * 6144
               for p in temps)


@pytest.mark.parametrize("output", ["out.y4m", "frames"])
def test_sigterm_while_writing_removes_the_temporary_output(output, tmp_path):
    bitstream.write(tmp_path / "s.bin", *bitstream.loads(streams.many_frames(64, 64, 1500)))
    proc = subprocess.Popen([sys.executable, "-m", "zoo", "decode", "s.bin", "-o", output],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 240
        while not writing(tmp_path, output):
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "no frame was written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == 128 + signal.SIGTERM
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.bin"]


def test_the_budget_reads_layer_arguments_given_by_keyword():
    """pytorch_msssim calls ``conv2d(x, weight=w, ...)``: its cost is counted, not a crash."""
    import torch
    import torch.nn.functional as F

    from zoo.core.budget import _layer_cost
    x, w = torch.zeros(1, 3, 32, 32), torch.zeros(3, 1, 1, 7)
    by_keyword = _layer_cost(F.conv2d, (x,), {"weight": w, "stride": 1, "padding": 0, "groups": 3})
    assert by_keyword == _layer_cost(F.conv2d, (x, w), {"groups": 3}) == (3 * 32 * 26 * 7, 3 * 32 * 26)


def test_the_memory_budget_counts_live_tensors_once():
    import torch

    from zoo.core.budget import MAX_BYTES_PER_PIXEL, MIN_BYTES, ComputeBudget
    from zoo.errors import ZooError
    pixels = 1 << 16
    with ComputeBudget(pixels, "frame 0 cannot be decoded") as budget:
        x = torch.zeros(MIN_BYTES // 4)  # float32: the floor
        views = [x[::2], x.view(-1, 4), x.add_(1)]  # no new storage
        assert budget.live == MIN_BYTES and len(views) == 3
        del x, views
        assert budget.live == 0  # freed: released
        kept = torch.zeros((MAX_BYTES_PER_PIXEL * pixels + MIN_BYTES) // 4 - (8 << 20))  # 32 MB left
        assert budget.live == MAX_BYTES_PER_PIXEL * pixels + MIN_BYTES - (32 << 20)
        with pytest.raises(ZooError, match="^frame 0 cannot be decoded: it needs more than 2,560 bytes of "
                                           "tensors per pixel"):
            torch.zeros(9 << 20)
        with pytest.raises(ZooError, match="bytes of tensors"):  # a layer's 64 MB output
            torch.nn.functional.conv2d(torch.zeros(1, 1, 1024, 1024), torch.zeros(16, 1, 1, 1))
        del kept


def test_the_generators_are_what_the_benchmark_runs():
    bench = (Path(__file__).parents[1] / "scripts" / "hostile_bench.py").read_text()
    for generator in ("gmm_side_info", "costly_model", "many_frames"):
        assert f"streams.{generator}" in bench
