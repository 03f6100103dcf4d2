"""Every valid combination of the built-in plugins builds, trains and codes bit-exactly."""

from __future__ import annotations

import itertools

import pytest
import torch

from zoo.build import ModelSpec, build_codec
from zoo.errors import ZooError
from zoo.manager import Zoo
from zoo.sequence import decode_records, encode_frames, pad
from zoo.slots import Reference

BUILTIN = "codec-zoo"


def _valid_combinations() -> tuple[list[tuple[str, ...]], int]:
    zoo = Zoo.load()
    optional = sorted(p.name for p in zoo.plugins.values()
                      if p.package == BUILTIN and not p.info.default and "compose" not in p.slots)
    valid, refused = [], 0
    for k in range(len(optional) + 1):
        for names in itertools.combinations(optional, k):
            try:
                zoo.select(names)
            except ZooError:
                refused += 1
                continue
            valid.append(names)
    return valid, refused


VALID, REFUSED = _valid_combinations()


def test_the_rules_refuse_some_combinations_and_allow_the_papers_models():
    assert REFUSED > 0
    assert ("cmfr", "refiner", "sff") in VALID and ("gmm", "grdn", "pixel-residual") in VALID
    assert not any("sff" in names and "pixel-residual" in names for names in VALID)


@pytest.mark.parametrize("names", VALID, ids=lambda names: ",".join(names) or "defaults")
def test_combination_codes_bit_exactly(names, rgb_frames):
    codec = build_codec(ModelSpec(names))
    frames = [x[..., :48, :64] for x in rgb_frames[:2]]
    codec.train()
    out = codec(pad(frames[1]), Reference(frame=pad(frames[0])), 1)
    assert out["x_hat"].shape == (1, 3, 64, 64)
    assert all(torch.isfinite(l).all() for g in out["likelihoods"].values() for l in g.values())
    codec.update(force=True)
    codec.eval()
    coded = list(encode_frames(codec, frames, 2, 0))
    decoded = list(decode_records(codec, [record for record, _ in coded], 48, 64, 2))
    assert [record.kind for record, _ in coded] == ["I", "P"]
    assert all(torch.equal(a, b) for (_, a), b in zip(coded, decoded))
