"""The (key, interval) grid the Prometheus table builders aggregate on, against plain polars group-bys and joins
on the same rows with their labels repeated on every row."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.prometheus.parts import Grid, Part

STEP = 300_000
T0 = 1_795_000_000_000 // STEP * STEP

_labels = st.fixed_dictionaries({"a": st.sampled_from(["", "x", "y"]), "b": st.sampled_from(["p", "q"]),
                                 "c": st.sampled_from(["1", "2", "3"])})
_rows = st.lists(st.tuples(_labels, st.integers(0, 6), st.floats(-1e6, 1e6, allow_nan=False, width=32)),
                 max_size=40)


def _frame(rows: list[tuple[dict[str, str], int, float]], cols: tuple[str, ...]) -> pl.DataFrame:
    return pl.DataFrame({**{c: [r[0][c] for r in rows] for c in cols}, "ts": [T0 + r[1] * STEP for r in rows],
                         "v": [r[2] for r in rows]}, schema={**{c: pl.String for c in cols}, "ts": pl.Int64,
                                                            "v": pl.Float64})


def _part(df: pl.DataFrame, cut: int) -> Part:
    """Two shards of the same query, as the collector concatenates them."""
    cut = min(cut, df.height)
    return Part.concat([Part.from_rows(df[:cut]), Part.from_rows(df[cut:])])


@settings(deadline=None, max_examples=150)
@given(x=_rows, y=_rows, cut=st.integers(0, 40))
@example(x=[({"a": "x", "b": "p", "c": "1"}, 0, 1.0), ({"a": "x", "b": "p", "c": "3"}, 0, 5.0),
            ({"a": "x", "b": "p", "c": "2"}, 3, 2.0), ({"a": "", "b": "q", "c": "1"}, 1, 7.0)],
         y=[({"a": "x", "b": "q", "c": "1"}, 0, 4.0), ({"a": "x", "b": "p", "c": "1"}, 0, 6.0),
            ({"a": "y", "b": "p", "c": "1"}, 5, 1.0)], cut=1)
def test_grid_equals_group_by_and_join(x: list, y: list, cut: int) -> None:
    """x keyed on (a, b) without a = '', aggregated four ways; y keyed on a only, broadcast to x's keys."""
    fx, fy = _frame(x, ("a", "b", "c")), _frame(y, ("a",))
    key = ["ts", "a", "b"]
    want = (fx.filter(pl.col("a") != "").group_by(key)
            .agg(s=pl.col("v").sum(), m=pl.col("v").mean(), mx=pl.col("v").max(), c=pl.col("c").max())
            .join(fy.group_by(["ts", "a"]).agg(ymax=pl.col("v").max()), on=["ts", "a"], how="left")
            .sort(key))
    g = Grid({"x": _part(fx, cut), "y": _part(fy, cut)}, ["a", "b"], STEP, keep=pl.col("a") != "",
             on={"y": ["a"]})
    got = g.frame(g.present("x"), {"s": g.values("x", "sum"), "m": g.values("x", "mean"),
                                   "mx": g.values("x", "max"), "c": g.label("x", g.pick("x", "c"), "c"),
                                   "ymax": g.values("y", "max")}).sort(key)
    assert got.select(key, "c").rows() == want.select(key, "c").rows()
    for col in ("s", "m", "mx", "ymax"):
        a, b = got[col].to_list(), want[col].to_list()
        assert [v is None for v in a] == [v is None for v in b], col
        assert [v for v in a if v is not None] == pytest.approx([v for v in b if v is not None], rel=1e-9, abs=1e-6)
    # the sub-key part adds no keys of its own
    assert set(g.keys.rows()) == set(fx.filter(pl.col("a") != "").select("a", "b").unique().rows())


def test_grid_cells_follow_each_key_span() -> None:
    """A key's cells run from its first to its last interval only: short-lived keys cost no batch-wide row."""
    rows = [({"a": "x", "b": "p", "c": "1"}, 0, 1.0), ({"a": "y", "b": "p", "c": "1"}, 1000, 2.0),
            ({"a": "y", "b": "p", "c": "1"}, 1002, 3.0)]
    g = Grid({"x": Part.from_rows(_frame(rows, ("a", "b")))}, ["a", "b"], STEP)
    assert g.size == 1 + 3
    assert g.frame(g.present("x"), {"v": g.values("x", "sum")}).select("ts", "a", "v").rows() == [
        (T0, "x", 1.0), (T0 + 1000 * STEP, "y", 2.0), (T0 + 1002 * STEP, "y", 3.0)]


def test_grid_rejects_points_off_the_step() -> None:
    df = _frame([({"a": "x", "b": "p", "c": "1"}, 0, 1.0)], ("a", "b")).with_columns(pl.col("ts") + 1)
    df = pl.concat([df, _frame([({"a": "x", "b": "p", "c": "1"}, 0, 1.0)], ("a", "b"))])
    with pytest.raises(ValueError, match="off the 300000 ms grid"):
        Grid({"x": Part.from_rows(df)}, ["a", "b"], STEP)


def test_empty_parts_and_missing_labels() -> None:
    """A query without series has no label columns; a key label a series lacks is ''."""
    g = Grid({"x": Part.empty(), "y": Part.from_rows(_frame([({"a": "x"}, 2, 4.0)], ("a",)))}, ["a", "b"], STEP)
    out = g.frame(g.present("x") | g.present("y"), {"x": g.values("x", "sum"), "y": g.values("y", "mean"),
                                                    "lab": g.label("x", g.pick("x", "b"), "b")})
    assert out.rows() == [(T0 + 2 * STEP, "x", "", None, 4.0, None)]
