"""The encoder's search (zoo.core.search): it changes what is coded, never the decoder."""

from __future__ import annotations

import json

import pytest
import torch
from compressai.entropy_models import EntropyModel

from zoo.cli import main
from zoo.core.build import ModelSpec
from zoo.core.coding import decode_stream, encode_clip
from zoo.core.models import open_model
from zoo.core.search import Search


def test_search_codes_other_p_frames_that_a_plain_decoder_decodes(tiny_clip):
    model = open_model(spec=ModelSpec(()), untrained=True)
    weights = {k: v.clone() for k, v in model.codec.state_dict().items()}
    _, plain, _ = encode_clip(model, tiny_clip, quality=1, intra_period=0)
    header, searched, recon = encode_clip(model.use_search(Search(3)), tiny_clip, 1, 0)
    assert plain[0].payload == searched[0].payload  # I-frames are not searched
    assert all(a.payload != b.payload for a, b in zip(plain[1:], searched[1:]))
    # a decoder opened from the stream's header knows nothing of the search
    assert all(torch.equal(a, b) for a, b in zip(decode_stream(header, searched), recon))
    assert all(torch.equal(v, model.codec.state_dict()[k]) for k, v in weights.items())
    assert not any(m.training for m in model.codec.modules() if isinstance(m, EntropyModel))
    _, again, _ = encode_clip(model, tiny_clip, 1, 0)  # its noise is seeded: reproducible
    assert [r.payload for r in again] == [r.payload for r in searched]
    _, off, _ = encode_clip(model.use_search(Search(0)), tiny_clip, 1, 0)
    assert [r.payload for r in off] == [r.payload for r in plain]


def test_eval_names_and_records_the_search(tiny_y4m, tmp_path):
    out = tmp_path / "seq.json"
    assert main(["eval", "--untrained", "--data", str(tiny_y4m), "--qualities", "1",
                 "--search", "2", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["name"] == "defaults+search2"
    assert report["model"]["search"]["steps"] == 2
    # --resume: the output holds the 2-step search's evaluation, not a 1-step one
    assert main(["eval", "--untrained", "--data", str(tiny_y4m), "--qualities", "1",
                 "--search", "1", "-o", str(out), "--resume"]) == 2


@pytest.mark.parametrize("args", [["run", "--search", "-1"],
                                  ["eval", "--data", "x.y4m", "--search", "1", "--entropy-estimate"]])
def test_bad_search_arguments_are_refused(args, tmp_path, capsys):
    assert main([*args, "--untrained", "-o" if args[0] == "eval" else "--out",
                 str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1
