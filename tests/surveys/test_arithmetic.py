"""NPS and CSI against answers whose figures are known (REQ-A13)."""

from __future__ import annotations

import pytest

from surveys.service import csi, nps, satisfied_share


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], None),
        ([10, 9, 10], 100.0),
        ([0, 3, 6], -100.0),
        ([7, 8, 7, 8], 0.0),
        # 4 promoters, 3 passives, 3 detractors of 10: 40 % − 30 % = 10
        ([10, 10, 9, 9, 8, 7, 7, 6, 2, 0], 10.0),
        # 1 promoter, 2 detractors of 3: 33.3 % − 66.7 % = −33.3
        ([9, 6, 5], -33.3),
        # 6 is a detractor, 7 is not; 9 is a promoter, 8 is not
        ([6, 7, 8, 9], 0.0),
        # off the scale is ignored
        ([11, -1, 10], 100.0),
    ],
)
def test_nps(scores: list[int], expected: float | None) -> None:
    assert nps(scores) == expected


@pytest.mark.parametrize(
    ("marks", "mean", "share"),
    [
        ([], None, None),
        ([5, 5, 5], 5.0, 100.0),
        ([1, 2, 3, 4, 5], 3.0, 40.0),
        ([4, 5, 3], 4.0, 66.7),
        ([2, 3], 2.5, 0.0),
        ([5, 4, 4, 1], 3.5, 75.0),
        ([0, 6, 5], 5.0, 100.0),
    ],
)
def test_csi(marks: list[int], mean: float | None, share: float | None) -> None:
    assert csi(marks) == mean
    assert satisfied_share(marks) == share
