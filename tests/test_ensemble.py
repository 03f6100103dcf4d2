"""Ensembles of registry models: per-frame member choice, signalled and decoded."""

from __future__ import annotations

import pytest
import torch

from zoo.core.build import ModelSpec
from zoo.core.coding import decode_stream, encode_clip
from zoo.core.config import ms_ssim_lambda
from zoo.core.metrics import ms_ssim_rgb
from zoo.core.models import open_model
from zoo.core.sequence import pad
from zoo.errors import ZooError
from zoo.slots import Reference


@pytest.fixture(scope="module")
def m6():
    return open_model("feng2020-m6", untrained=True)


def test_members_are_the_registry_models(m6):
    members = m6.codec.members
    assert len(members) == 2
    m2 = open_model("feng2020-m2", untrained=True).codec
    assert torch.equal(next(members[0].residual_domain.parameters()),
                       next(m2.residual_domain.parameters()))


def test_each_p_frame_names_its_member_and_decodes_exactly(m6, tiny_clip):
    header, records, recon = encode_clip(m6, tiny_clip, quality=2, intra_period=0)
    assert [r.kind for r in records] == ["I", "P", "P"]
    assert all(r.payload.side.get("member", 0) in (0, 1) for r in records[1:])
    assert all(r.payload.side.get("member") != 0 for r in records[1:])  # the first member: no mark
    decoded = decode_stream(header, records)
    assert all(torch.equal(a, b) for a, b in zip(recon, decoded))


def test_a_member_codes_from_the_reference_it_made_and_another_from_its_own_features(m6, rgb_frames):
    from zoo.plugins.ensemble import _shared
    codec = m6.codec
    with torch.inference_mode():
        _, _, ref = codec.intra_compress(pad(rgb_frames[0]), 2)
        payload, _, ref = codec.compress(pad(rgb_frames[1]), ref, 2)
        i = payload.side.get("member", 0)
        assert ref.member == i
        mine = _shared(codec.members[i], i, ref)
        assert type(mine) is Reference and mine.feature is ref.feature and mine.frame is ref.frame
        other = _shared(codec.members[1 - i], 1 - i, ref)
        expected = codec.members[1 - i].reference(ref.frame).feature
        assert (other.feature is None) == (expected is None) and other.flow is ref.flow
        assert expected is None or torch.equal(other.feature, expected)


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
    with pytest.raises(ZooError, match="ensemble.criterion must be one of rd, rd-ms-ssim, ms-ssim, got 'best'"):
        open_model(spec=ModelSpec(("ensemble",), options={"ensemble": {
            "members": ["feng2020-m1", "feng2020-m3"], "criterion": "best"}}), untrained=True)


def test_rd_ms_ssim_weighs_bits_against_ms_ssim_as_ms_ssim_training_does():
    """``rd-ms-ssim``: bits + lambda_ms * (1 - MS-SSIM) * pixels, lambda_ms the training
    loss's weight at that quality, MS-SSIM the one zoo eval reports; a perfect frame
    costs its bits alone."""
    spec = ModelSpec(("ensemble",), options={"ensemble": {"members": ["feng2020-m1", "feng2020-m3"],
                                                          "criterion": "rd-ms-ssim"}})
    ensemble = open_model(spec=spec, untrained=True).codec
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    similarity = ms_ssim_rgb(x, noisy)  # as zoo eval measures it
    weight = ms_ssim_lambda(ensemble.lambdas, 2)
    assert ensemble._cost(x, x, 100.0, 2) == pytest.approx(100.0)
    assert ensemble._cost(x, noisy, 100.0, 2) == pytest.approx(100.0 + weight * (1 - similarity) * 64 * 64)


def test_the_ensemble_hands_each_member_referenced_and_visible(m6, rgb_frames):
    from zoo.slots import Payload
    x, given = pad(rgb_frames[1]), []

    class Member(torch.nn.Module):
        def compress(self, x, ref, q, referenced=True, visible=None):
            given.append((referenced, visible))
            return Payload({"motion": [b"\0"]}), x, Reference(frame=x)

        def reference(self, frame):
            return Reference(frame=frame)

    ensemble = type(m6.codec)([Member(), Member()], "rd", m6.codec.lambdas)
    for referenced, visible in ((True, None), (False, (40, 50))):
        given.clear()
        ensemble.compress(x, Reference(frame=x), 2, referenced, visible)
        assert given == [(referenced, visible)] * 2


def test_a_members_mark_counts_in_its_bits_and_the_first_member_has_none(m6, rgb_frames):
    """Member 1's one-byte latent plus its one-byte mark ties member 0's two bytes:
    the tie keeps member 0, whose frame carries no mark."""
    from zoo.plugins.ensemble import mark_bits
    from zoo.slots import Payload
    x = pad(rgb_frames[1])

    class Member(torch.nn.Module):
        def __init__(self, size):
            super().__init__()
            self.size = size

        def compress(self, x, ref, q, referenced=True, visible=None):
            return Payload({"motion": [b"\0" * self.size]}), x, Reference(frame=x)

        def decompress(self, payload, ref, q):
            return ref.frame, ref

        def reference(self, frame):
            return Reference(frame=frame)

    assert [mark_bits(i) for i in (0, 1, 63, 64)] == [0, 8, 8, 16]
    for sizes, member in (((2, 1), None), ((3, 1), 1)):
        ensemble = type(m6.codec)([Member(s) for s in sizes], "rd", m6.codec.lambdas)
        payload, _, ref = ensemble.compress(x, Reference(frame=x), 2)
        assert payload.side.get("member") == member and ref.member == (member or 0)
        assert torch.equal(ensemble.decompress(payload, Reference(frame=x), 2)[0], x)


def test_the_ensemble_excludes_slot_plugins():
    with pytest.raises(ZooError, match="'ensemble' excludes"):
        open_model(spec=ModelSpec(("ensemble", "cmfr")), untrained=True)


def test_an_ensemble_is_trained_when_its_members_are(tmp_path, monkeypatch, tiny_clip):
    """An ensemble has no weights file: it opens trained from its members' weights,
    and a member without weights is the error."""
    import shutil
    from pathlib import Path

    from zoo.core.build import build_codec
    from zoo.core.registry import find_model, update_registry
    from zoo.core.weights import save_weights
    registry = tmp_path / "registry.toml"
    shutil.copy(Path(__file__).resolve().parents[1] / "registry.toml", registry)
    for name in ("feng2020-m1", "feng2020-m2", "feng2020-m4"):  # m2, m4, m5, m6 lose their weights
        update_registry(name, {"weights": "", "sha256": ""}, registry)
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    with pytest.raises(ZooError, match="model 'feng2020-m1' has no trained weights yet"):
        open_model("feng2020-m5")
    shas = []
    for name in ("feng2020-m1", "feng2020-m4"):
        codec = build_codec(find_model(name).spec)  # the registry's plugins, options and ladder
        torch.nn.init.normal_(next(codec.residual_domain.parameters()))  # not the seeded initial weights
        sha = save_weights(codec, tmp_path / "weights" / f"{name}.safetensors")
        update_registry(name, {"weights": f"weights/{name}.safetensors", "sha256": sha}, registry)
        shas.append(sha)
    m5 = open_model("feng2020-m5")
    assert m5.trained and m5.sha256 not in shas
    from zoo.eval.evaluate import model_size
    files = [tmp_path / "weights" / f"{n}.safetensors" for n in ("feng2020-m1", "feng2020-m4")]
    assert model_size(m5)["bytes"] == sum(f.stat().st_size for f in files)  # its members' files
    m1 = open_model("feng2020-m1")
    assert torch.equal(next(m5.codec.members[0].residual_domain.parameters()),
                       next(m1.codec.residual_domain.parameters()))
    header, records, recon = encode_clip(m5, tiny_clip, quality=1, intra_period=0)
    assert header.model == {"name": "feng2020-m5"}  # a registry model is recorded by name
    for a, b in zip(decode_stream(header, records), recon):
        assert torch.equal(a, b)
