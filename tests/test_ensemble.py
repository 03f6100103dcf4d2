"""Ensembles of registry models: per-frame member choice, signalled and decoded."""

from __future__ import annotations

import pytest
import torch

from zoo.build import ModelSpec
from zoo.coding import decode_stream, encode_clip
from zoo.errors import ZooError
from zoo.models import open_model


@pytest.fixture(scope="module")
def m6():
    return open_model("feng2020-m6", untrained=True)


def test_members_are_the_registry_models(m6):
    members = m6.codec.members
    assert len(members) == 2
    m2 = open_model("feng2020-m2", untrained=True).codec
    assert torch.equal(members[0].intra_coding.g_a[0].weight, m2.intra_coding.g_a[0].weight)


def test_each_p_frame_names_its_member_and_decodes_exactly(m6, tiny_clip):
    header, records, recon = encode_clip(m6, tiny_clip, quality=2, intra_period=0)
    assert [r.kind for r in records] == ["I", "P", "P"]
    assert all(r.payload.side["member"] in (0, 1) for r in records[1:])
    decoded = decode_stream(header, records)
    assert all(torch.equal(a, b) for a, b in zip(recon, decoded))


def test_a_member_index_out_of_range_is_corrupt(m6, tiny_clip):
    header, records, _ = encode_clip(m6, tiny_clip, quality=2, intra_period=0)
    records[1].payload.side["member"] = 7
    with pytest.raises(ZooError, match="frame 1 is corrupt"):
        decode_stream(header, records)


def test_ms_ssim_criterion_and_bad_options():
    spec = ModelSpec(("ensemble",), options={"ensemble": {"members": ["feng2020-m1", "feng2020-m3"],
                                                          "criterion": "ms-ssim"}})
    assert open_model(spec=spec, untrained=True).codec.criterion == "ms-ssim"
    with pytest.raises(ZooError, match="at least two members"):
        open_model(spec=ModelSpec(("ensemble",)), untrained=True)
    with pytest.raises(ZooError, match="criterion 'best'"):
        open_model(spec=ModelSpec(("ensemble",), options={"ensemble": {
            "members": ["feng2020-m1", "feng2020-m3"], "criterion": "best"}}), untrained=True)


def test_the_ensemble_excludes_slot_plugins():
    with pytest.raises(ZooError, match="'ensemble' excludes"):
        open_model(spec=ModelSpec(("ensemble", "cmfr")), untrained=True)
