"""The columnar matrix decoder gives exactly what orjson gives, and declines anything it does not recognise."""

from __future__ import annotations

import math

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.prometheus import fastmatrix

PREFIX = b'{"status":"success","data":{"resultType":"matrix","result":'


def body(result: list[dict]) -> bytes:
    # Prometheus' own layout: no whitespace, this key order
    return PREFIX + orjson.dumps(result) + b"}}"


def same(a: fastmatrix.Matrix, b: fastmatrix.Matrix) -> bool:
    return (a.metrics == b.metrics and np.array_equal(a.lens, b.lens) and np.array_equal(a.t_ms, b.t_ms)
            and np.array_equal(a.v, b.v, equal_nan=True))


def test_tricky_labels_and_special_values() -> None:
    result = [{"metric": {"pod": 'a"],[b}', "x": "},\"values\":[[", "__name__": "m"},
               "values": [[1700000000.999, "NaN"], [1700000300.999, "+Inf"], [1700000600.999, "-Inf"]]},
              {"metric": {}, "values": [[1700000000, "1e+06"], [1700000300.5, "-0.25"]]}]
    got = fastmatrix.parse(body(result))
    assert got is not None and same(got, fastmatrix.Matrix.from_result(result))
    assert got.lens.tolist() == [3, 2]
    assert got.t_ms.tolist() == [1700000000999, 1700000300999, 1700000600999, 1700000000000, 1700000300500]
    assert math.isnan(got.v[0]) and got.v[1:].tolist() == [math.inf, -math.inf, 1e6, -0.25]


def test_empty_result_and_declined_bodies() -> None:
    empty = fastmatrix.parse(body([]))
    assert empty is not None and empty.v.size == 0 and empty.metrics == [] and empty.labels.width == 0
    assert fastmatrix.parse(b'{"status":"error","errorType":"bad_data","error":"x"}') is None
    spaced = orjson.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"a": "b"}, "values": [[1, "2"]]}]}}, option=orjson.OPT_INDENT_2)
    assert fastmatrix.parse(spaced) is None  # another layout: the caller uses orjson
    assert fastmatrix.parse(body([{"metric": {"a": "b"}, "values": [[1, "x"]]}])) is None  # not a number


labels = st.dictionaries(st.sampled_from(["pod", "namespace", "le", "weird"]), st.text(max_size=8), max_size=4)
points = st.lists(st.tuples(st.integers(1_600_000_000_000, 1_800_000_000_000),
                            st.floats(allow_nan=True, allow_infinity=True, width=64)), min_size=1, max_size=6)


@settings(deadline=None, max_examples=80)
@given(st.lists(st.tuples(labels, points), max_size=5))
def test_same_as_orjson(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> None:
    def fmt(v: float) -> str:
        return "NaN" if math.isnan(v) else "+Inf" if v == math.inf else "-Inf" if v == -math.inf else repr(v)

    result = [{"metric": m, "values": [[t / 1000, fmt(v)] for t, v in pts]} for m, pts in series]
    got = fastmatrix.parse(body(result))
    assert got is not None and same(got, fastmatrix.Matrix.from_result(result))
    assert got.t_ms.tolist() == [t for _, pts in series for t, _ in pts]
    # the named-labels path (json_decode into the catalog's columns): the same values, absent ones null
    named = fastmatrix.parse(body(result), ("pod", "weird", "namespace"))
    assert named is not None and named.labels.columns == ["pod", "weird", "namespace"]
    want = [{k: v for k, v in m.items() if k in ("pod", "weird", "namespace")} for m, _ in series]
    assert named.metrics == want and np.array_equal(named.v, got.v, equal_nan=True)


def test_body_with_warnings_after_the_result() -> None:
    """Prometheus appends ``warnings``/``infos`` after ``data``; a ``]]}]`` inside such a string is not the end."""
    result = [{"metric": {"pod": "p"}, "values": [[1700000000, "1"], [1700000300, "2"]]}]
    tail = b'},"warnings":["x]]}]y"]}'
    got = fastmatrix.parse(PREFIX + orjson.dumps(result) + tail)
    assert got is None or (got.metrics == [{"pod": "p"}] and got.v.tolist() == [1.0, 2.0])
    got = fastmatrix.parse(PREFIX + orjson.dumps(result) + b'},"warnings":["ok"]}')
    assert got is not None and got.metrics == [{"pod": "p"}] and got.lens.tolist() == [2]
