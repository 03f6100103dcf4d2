"""scripts/same_weights.py: a weights file against an earlier one, new leading rows allowed."""

from __future__ import annotations

import importlib.util

import torch

from conftest import ROOT

spec = importlib.util.spec_from_file_location("same_weights", ROOT / "scripts" / "same_weights.py")
same_weights = importlib.util.module_from_spec(spec)
spec.loader.exec_module(same_weights)

OLD = {"gain": torch.tensor([[0.5, 0.6], [1.0, 1.1]], dtype=torch.float16),
       "conv": torch.arange(6, dtype=torch.float16).view(2, 3), "count": torch.tensor(3)}


def test_a_ladder_extended_below_its_lowest_quality_is_the_same_weights():
    new = {**OLD, "gain": torch.cat([torch.tensor([[0.3, 0.4]], dtype=torch.float16), OLD["gain"]])}
    assert same_weights.differences(OLD, new) == []


def test_changed_rows_values_dtypes_and_keys_are_differences():
    rows_behind = {**OLD, "gain": torch.cat([OLD["gain"], OLD["gain"][:1]])}  # appended, not in front
    assert same_weights.differences(OLD, rows_behind) == ["gain"]
    one_ulp = OLD["conv"].clone()
    one_ulp[1, 2] = torch.nextafter(one_ulp[1, 2], torch.tensor(9.0, dtype=torch.float16))
    assert same_weights.differences(OLD, {**OLD, "conv": one_ulp}) == ["conv"]
    assert same_weights.differences(OLD, {**OLD, "conv": OLD["conv"].float()}) == ["conv"]
    assert same_weights.differences(OLD, {**OLD, "count": torch.tensor(4)}) == ["count"]
    assert same_weights.differences(OLD, {k: v for k, v in OLD.items() if k != "count"}) == ["count"]
    assert same_weights.differences(OLD, {**OLD, "extra": torch.zeros(1)}) == ["extra"]
