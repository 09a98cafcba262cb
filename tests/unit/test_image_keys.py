
from harness.artifacts import build


def test_key_changes_with_content_mode_and_extra(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "RECIPES", tmp_path)
    recipe = tmp_path / "r"
    recipe.mkdir()
    f = recipe / "Dockerfile"
    f.write_text("FROM x\n")
    k1 = build.hash_tree([recipe])
    assert build.hash_tree([recipe]) == k1, "same inputs, same key"
    f.write_text("FROM y\n")
    k2 = build.hash_tree([recipe])
    assert k2 != k1
    f.chmod(0o755)
    assert build.hash_tree([recipe]) != k2
    assert build.hash_tree([recipe], extra="sha256:parent") != build.hash_tree([recipe])


def test_every_flavour_has_a_recipe_for_every_base():
    for flavor in build.FLAVORS:
        for base in build.BASES:
            assert (build.RECIPES / flavor / f"Dockerfile.{base}").is_file()
