"""The one artefact cache: key from inputs, one lock, built once, recorded."""
import json

import pytest

from harness.core import cache
from harness.core.errors import InfrastructureError


@pytest.fixture
def records(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "RECORDS", tmp_path / "records")
    return tmp_path / "records"


def test_builds_once_then_reuses_and_records(tmp_path, records):
    product, builds = tmp_path / "product", []

    def build():
        builds.append(1)
        product.write_text("x")
    first = cache.cached_build("thing:abc", product.exists, build)
    second = cache.cached_build("thing:abc", product.exists, build)
    assert (first.cached, second.cached, len(builds)) == (False, True, 1)
    record = json.loads((records / "thing_abc.json").read_text())
    assert record["name"] == "thing:abc" and record["seconds"] >= 0


def test_a_build_that_leaves_nothing_is_an_error(tmp_path, records):
    with pytest.raises(InfrastructureError, match="building thing:abc finished but left no product"):
        cache.cached_build("thing:abc", lambda: False, lambda: None)


def test_keys_follow_every_input(tmp_path):
    f = tmp_path / "recipe.txt"
    f.write_text("a")
    k = cache.key("x", cache.tree([f]))
    assert cache.key("x", cache.tree([f])) == k
    f.write_text("b")
    assert cache.key("x", cache.tree([f])) != k
    f.chmod(0o700)
    assert cache.tree([f])[0][1] == 0o700
    assert cache.tree([tmp_path], base=tmp_path)[0][0] == "recipe.txt"
