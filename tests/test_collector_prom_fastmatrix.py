"""The columnar matrix decoder gives exactly what orjson gives, and declines anything it does not recognise."""

from __future__ import annotations

import math
import re

import numpy as np
import orjson
import polars as pl
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
    result = [{"metric": {"pod": 'a"],[b}', "x": "},\"values\":[[", "__name__": "m", "y": '1,"2"],[3',
                          "z": "é{\"metric\":{"},
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


def test_declines_series_without_values_and_other_layouts() -> None:
    """Native histograms (a series without "values", or with both), another key order, an empty "values",
    stats after the result: not this decoder's layout, so the caller uses orjson."""
    pts = [[1700000000, "1"], [1700000300, "2"]]
    hist = [[1700000000, {"count": "2", "sum": "3", "buckets": [[0, "1", "2", "1"]]}]]
    bare = [[1700000000, {"count": "2", "sum": "3"}]]
    for result in (
        [{"metric": {"a": "1"}, "values": pts}, {"metric": {"a": "2"}, "histograms": hist},
         {"metric": {"a": "3"}, "values": pts}],
        [{"metric": {"a": "1"}, "values": pts}, {"metric": {"a": "2"}, "histograms": bare},
         {"metric": {"a": "3"}, "values": pts}],
        [{"metric": {"a": "1"}, "values": pts, "histograms": bare}],
        [{"metric": {"a": "1"}, "histograms": bare, "values": pts}],
        [{"values": pts, "metric": {"a": "1"}}],
        [{"metric": {"a": "1"}, "values": pts}, {"other": "x", "metric": {"a": "2"}, "values": pts}],
        [{"metric": {"a": "1"}, "other": {}, "values": pts}],
        [{"metric": {"a": "1"}, "values": []}, {"metric": {"a": "2"}, "values": pts}],
        [{"metric": {"a": "1"}, "values": [[1700000000, "1", "2"]]}],
        [{"metric": {"a": "1"}, "values": [["1700000000", "1"]]}],
    ):
        assert fastmatrix.parse(body(result)) is None, result
    stats = b',"stats":{"timings":{"evalTotalTime":0.01,"x":1},"samples":{"totalQueryableSamples":2}}}}'
    assert fastmatrix.parse(PREFIX + orjson.dumps([{"metric": {}, "values": pts}]) + stats) is None
    invalid_utf8 = body([{"metric": {"a": "x"}, "values": pts}]).replace(b'"x"', b'"\xff"')
    assert fastmatrix.parse(invalid_utf8) is None


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


number = st.one_of(st.integers(-5, 2_000_000_000), st.floats(allow_nan=False, allow_infinity=False, width=32))
NUMERIC = ["1", "0.5", "NaN", "+Inf", "-Inf", "1e+06", "-0"]
numeric = st.sampled_from(NUMERIC)
anything = st.recursive(st.none() | st.booleans() | number | numeric | st.text(max_size=3),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                    max_size=3), max_leaves=6)
point = st.tuples(number, numeric).map(list)
histogram = st.tuples(number, st.fixed_dictionaries({"count": numeric, "sum": numeric}, optional={
    "buckets": st.lists(st.tuples(st.integers(0, 3), numeric, numeric, numeric).map(list), max_size=2),
})).map(list)
series = st.fixed_dictionaries({"metric": labels}, optional={
    # points that are valid JSON but not [number, "number"] among the right ones
    "values": st.lists(st.one_of(point, point, point, st.lists(anything, max_size=3)), max_size=4),
    "histograms": st.lists(histogram, min_size=1, max_size=2), "other": anything})


@settings(deadline=None, max_examples=300)
@given(st.lists(series, min_size=1, max_size=4).flatmap(
    lambda result: st.tuples(st.just(result), st.permutations(range(4)),
                             st.sampled_from([None, {}, {"a": [[1, 2]]}]))))
def test_valid_json_of_another_shape_is_declined_not_misread(case: tuple) -> None:
    """Any valid JSON result (key orders, series without or with empty "values", native histograms, other keys,
    points that are not [number, "number"], stats after the result): decoded exactly, or declined."""
    result, order, stats = case
    keys = ["metric", "values", "histograms", "other"]
    shuffled = [{k: s[k] for k in (keys[i] for i in order) if k in s} for s in result]
    after = b"" if stats is None else b',"stats":' + orjson.dumps(stats)
    text = PREFIX + orjson.dumps(shuffled) + after + b"}}"
    got = fastmatrix.parse(text)
    readable = stats is None and all(
        list(s) == ["metric", "values"] and s["values"]
        and all(len(p) == 2 and type(p[0]) in (int, float) and p[1] in NUMERIC for p in s["values"])
        for s in shuffled)
    if not readable:
        assert got is None
    else:
        assert got is not None and same(got, fastmatrix.Matrix.from_result(shuffled))


@settings(deadline=None, max_examples=300)
@given(st.lists(st.tuples(labels, points), min_size=1, max_size=4), st.data())
def test_a_garbled_point_region_is_declined_not_misread(series: list, data: st.DataObject) -> None:
    """One byte of a series' points or of the delimiters between series replaced or dropped: whatever the
    result, the decoder never returns anything but what orjson reads from it (most often: declines)."""
    result = [{"metric": m, "values": [[t / 1000, repr(v)] for t, v in pts]} for m, pts in series]
    text = body(result)
    regions = [i for m in re.finditer(rb',"values":\[\[.*?"\]\]\}', text)
               for i in range(m.start(), m.end() + 1)]
    at = data.draw(st.sampled_from(regions))
    # not a digit: a number with a leading 0 is not JSON, yet Arrow reads it
    byte = data.draw(st.sampled_from([b"", *(bytes([c]) for c in b'[]{},:".')]))
    garbled = text[:at] + byte + text[at + 1:]
    got = fastmatrix.parse(garbled)
    try:
        want = fastmatrix.Matrix.from_result(orjson.loads(garbled)["data"]["result"])
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError, pl.exceptions.PolarsError):
        want = None  # not a matrix orjson can read either
    assert got is None or (want is not None and same(got, want))
