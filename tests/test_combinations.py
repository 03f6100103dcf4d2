"""Every valid combination of the built-in plugins builds, trains and codes bit-exactly.

Fixed plugins (slot modules without parameters: ``x265-intra``, ``dis-flow``)
mix with anything, so the rules are checked for every combination of them with
the learned plugins, and each learned combination is coded once, with the
fixed plugins' subsets taken in turn (every subset with many learned sets):
as many codecs coded as before the fixed plugins came.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from zoo.core.build import ModelSpec, build_codec
from zoo.core.manager import PLUGIN_TAG, Zoo
from zoo.core.sequence import decode_records, encode_frames, pad
from zoo.errors import ZooError

BUILTIN = "codec-zoo"


def _is_fixed(name: str) -> bool:
    """The plugin's slot modules have no parameters: nothing of it trains. One that cannot
    stand alone (``dvc-mc`` requires a residual domain's tag) is taken as learned."""
    try:
        codec = build_codec(ModelSpec((name,)))
    except ZooError:
        return False
    own = [m for m in codec.modules() if getattr(m, PLUGIN_TAG, (None,))[0] == name]
    return bool(own) and not any(p.numel() for m in own for p in m.parameters())


def _valid_combinations() -> tuple[list[tuple[str, ...]], int, list[str]]:
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
    return valid, refused, [name for name in optional if _is_fixed(name)]


VALID, REFUSED, FIXED = _valid_combinations()
FIXED_SUBSETS = [s for k in range(len(FIXED) + 1) for s in itertools.combinations(FIXED, k)]
LEARNED = [names for names in VALID if not set(names) & set(FIXED)]
#: Each learned combination once, with the fixed plugins' subsets in turn.
CODED = [tuple(sorted(names + FIXED_SUBSETS[i % len(FIXED_SUBSETS)]))
         for i, names in enumerate(LEARNED)]


def test_the_rules_refuse_some_combinations_and_allow_the_papers_models():
    assert REFUSED > 0
    assert ("cmfr", "refiner", "sff") in VALID and ("gmm", "grdn", "pixel-residual") in VALID
    assert not any("sff" in names and "pixel-residual" in names for names in VALID)


def test_fixed_plugins_mix_with_every_learned_combination():
    assert set(FIXED) >= {"dis-flow", "x265-intra"}
    assert len(VALID) == len(LEARNED) * len(FIXED_SUBSETS)
    assert set(CODED) <= set(VALID) and len(set(CODED)) == len(LEARNED)
    for subset in FIXED_SUBSETS:  # every subset is coded with many learned combinations
        assert sum(set(names) & set(FIXED) == set(subset) for names in CODED) >= 8


@pytest.mark.parametrize("names", CODED, ids=lambda names: ",".join(names) or "defaults")
def test_combination_codes_bit_exactly(names, rgb_frames):
    codec = build_codec(ModelSpec(names))
    frames = [x[..., :48, :64] for x in rgb_frames[:2]]
    codec.train()
    intra = codec.intra_forward(pad(frames[0]), 1)
    out = codec(pad(frames[1]), intra["ref"], 1)
    assert intra["x_hat"].shape == out["x_hat"].shape == (1, 3, 64, 64)
    assert all(torch.isfinite(l).all() for g in (*out["likelihoods"].values(), *intra["likelihoods"].values())
               for l in g.values())
    codec.update(force=True)
    codec.eval()
    coded = list(encode_frames(codec, frames, 2, 0))
    decoded = list(decode_records(codec, [record for record, _ in coded], 48, 64, 2))
    assert [record.kind for record, _ in coded] == ["I", "P"]
    assert all(torch.equal(a, b) for (_, a), b in zip(coded, decoded))
