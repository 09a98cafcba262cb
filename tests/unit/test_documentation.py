"""Commands read from documentation pages, and the docs check on small synthetic trees."""
import json
import textwrap

import pytest

from harness import cli
from harness.model import documentation as docs
from harness.model import procedures as proc
from harness.ops import docs_check

PAGE = "administration-guide/containers/docker-containers.md"
OTHER = "administration-guide/containers/other.md"


def md(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def test_commands_from_every_block_style():
    page = md('''
        Intro with `inline code` that is not a block.

        \tsystemctl status docker

        1. A list item:
        \t```   
        \t`ssh test_user@localhost`
        \t```    
        2. Another:
            ```console
            $ kubectl get nodes
            NAME    STATUS
            photon  Ready
            ```
            ```ini
            KUBE_LOG_LEVEL="--v=0"
            ```
        ```sh
        # a comment
        for S in a b; do
        \tsystemctl restart $S
        done
        kubeadm join 10.0.0.1:6443 --token x \\
            --discovery-token-ca-cert-hash sha256:y
        echo "a\tb
        c\td" >> /etc/hosts
        dockerd-rootless-setuptool.sh --help`
        ```
        ''')
    got = [(c.line, c.text) for c in docs.page_commands(page)]
    assert got == [
        (3, "systemctl status docker"),
        (7, "ssh test_user@localhost"),
        (11, "kubectl get nodes"),                      # the prompted line only: the rest is output
        (20, "for S in a b; do\n\tsystemctl restart $S\ndone"),
        (23, "kubeadm join 10.0.0.1:6443 --token x \\\n    --discovery-token-ca-cert-hash sha256:y"),
        (25, 'echo "a\tb\nc\td" >> /etc/hosts'),
        (27, "dockerd-rootless-setuptool.sh --help"),    # the stray backtick the page left is dropped
    ]
    assert docs.is_on_page('KUBE_LOG_LEVEL="--v=0"', page)   # content blocks are looked in, not listed
    assert docs.is_on_page("inline code", page) and not docs.is_on_page("systemctl stop docker", page)


def test_version_for_a_target():
    r = docs.parse({"source": {}, "default_version": "5", "claims": {},
                    "versions": {"4": {"root": "", "pages": {}}, "5": {"root": "", "pages": {}}}})
    assert docs.version_for("photon", "4.0", r) == "4" and docs.version_for("photon", "5.0", r) == "5"
    assert docs.version_for("photon", "6.0", r) == "5" and docs.version_for("standin", "12", r) == "5"
    with pytest.raises(Exception, match="--docs-version '3': the recorded documentation has versions 4, 5"):
        docs.check_version("3", r)


def test_the_recorded_rootless_claims_are_not_documented_in_v4():
    r = docs.recorded()
    assert r.source["commit"] and r.source["branch"] == "photon-hugo"
    assert all(not r.documented(f"R{i}", "4") and r.documented(f"R{i}", "5") for i in range(1, 12))
    assert all(r.documented(c, v) for c in ("D3", "K4", "B3") for v in ("4", "5"))


# -- the check on a synthetic tree --------------------------------------------------------------------
STEPS = md('''
    procedures:
      p:
        page: administration-guide/containers/docker-containers.md
        steps:
          - run: systemctl start docker
            claims: [D3]
          - run: systemctl is-active docker
            documented: false
            claims: [D3]
          - run: docker info --format x
            documented: docker info
            claims: [D4]
      q:
        page: administration-guide/containers/other.md
        steps:
          - run: echo other
            claims: [D1]
    ''')
GOOD = "\tsystemctl start docker\n\n\tdocker info\n"


def tree(tmp_path, version="5", pages=None):
    root = tmp_path / "photon" / "content" / "en" / f"docs-v{version}"
    for page, text in (pages or {}).items():
        (root / page).parent.mkdir(parents=True, exist_ok=True)
        (root / page).write_text(text)
    return tmp_path / "photon"


def record(pages: dict[str, str]) -> docs.Record:
    return docs.parse({"source": {"repository": "vmware/photon", "branch": "photon-hugo", "commit": "c" * 40,
                                  "date": "2024-08-01", "areas": ["administration-guide/containers"]},
                       "default_version": "5", "claims": {"D3": [PAGE], "D4": [PAGE], "D1": [OTHER]},
                       "versions": {"5": {"root": "content/en/docs-v5", "pages": {
                           p: {"sha256": docs.sha256(t), "commands": []} for p, t in pages.items()}}}})


def check(tmp_path, recorded_pages, present_pages):
    f = tmp_path / "suite" / "procedures.yaml"
    f.parent.mkdir(exist_ok=True)
    f.write_text(STEPS)
    procs = proc.load_suites(tmp_path)
    root = docs_check.content_root(tree(tmp_path, pages=present_pages))
    return docs_check.check_version(record(recorded_pages), procs, root, "5")


def test_an_unchanged_tree_has_nothing_to_say(tmp_path):
    pages = {PAGE: GOOD, OTHER: "\techo other\n"}
    c = check(tmp_path, pages, pages)
    assert (c.stale, c.uncovered, c.changed, c.gone, c.new) == ([], {}, [], [], [])


def test_a_changed_command_names_its_step_as_stale(tmp_path):
    pages = {PAGE: GOOD, OTHER: "\techo other\n"}
    c = check(tmp_path, pages, {PAGE: GOOD.replace("docker info", "docker system info"), OTHER: "\techo other\n"})
    assert [(s.procedure, s.step, s.documented) for s in c.stale] == [("p", 3, "docker info")]
    assert c.stale[0].where == "procedures.yaml:10" and c.changed == [PAGE]
    assert c.uncovered == {PAGE: [(3, "docker system info")]}
    text = docs_check.render(record(pages), [c], "tree")
    assert "STALE      procedure p step 3 (procedures.yaml:10): 'docker info' is no longer on " + PAGE in text


def test_a_removed_page_is_gone_and_its_steps_stale(tmp_path):
    c = check(tmp_path, {PAGE: GOOD, OTHER: "\techo other\n"}, {PAGE: GOOD})
    assert c.gone == [OTHER] and [(s.procedure, s.page) for s in c.stale] == [("q", OTHER)]


def test_an_added_command_is_uncovered_and_a_new_page_listed(tmp_path):
    pages = {PAGE: GOOD, OTHER: "\techo other\n"}
    added = {PAGE: GOOD + "\n\tdocker run -i -t photon /bin/bash\n", OTHER: "\techo other\n",
             "administration-guide/containers/new.md": "\tls\n"}
    c = check(tmp_path, pages, added)
    assert c.uncovered == {PAGE: [(5, "docker run -i -t photon /bin/bash")]} and not c.stale
    assert c.new == ["administration-guide/containers/new.md"] and c.changed == [PAGE]
    assert c.uncited == {"administration-guide/containers/new.md": 1}


def test_a_page_never_in_a_version_is_not_stale(tmp_path):
    c = check(tmp_path, {PAGE: GOOD}, {PAGE: GOOD})
    assert c.not_in_version == [f"q ({OTHER})"] and not c.stale


def docs_cli(argv: list[str]) -> int:
    """The command's exit status (not cli.main, which would send the library's logging to stdout for good)."""
    args = cli.build_parser().parse_args(argv)
    return args.func(args)


def test_docs_check_exit_codes(tmp_path, monkeypatch, capsys):
    pages = {PAGE: GOOD, OTHER: "\techo other\n"}
    f = tmp_path / "suite" / "procedures.yaml"
    f.parent.mkdir()
    f.write_text(STEPS)
    monkeypatch.setattr(cli.documentation, "recorded", lambda: record(pages))
    monkeypatch.setattr(cli, "load_suites", lambda: proc.load_suites(tmp_path))
    checkout = tree(tmp_path, pages=pages)
    assert docs_cli(["docs", "check", "--docs", str(checkout)]) == 0
    assert "docs-v5: 2 pages; 0 stale, 0 uncovered, 0 changed, 0 gone, 0 new" in capsys.readouterr().out
    (checkout / "content/en/docs-v5" / PAGE).write_text("\tsystemctl start docker\n")
    assert docs_cli(["docs", "check", "--docs", str(checkout), "--format", "json"]) == 1
    [v5] = json.loads(capsys.readouterr().out)["versions"]
    assert [s["documented"] for s in v5["stale"]] == ["docker info"]
    assert docs_cli(["docs", "check", "--docs", str(tmp_path / "nothing")]) == 4
    assert "not a directory" in capsys.readouterr().err
    assert docs_cli(["docs", "check", "--docs", str(checkout), "--docs-version", "9"]) == 4
    assert docs_cli(["docs", "check"]) == 0
    assert "a checkout of vmware/photon's photon-hugo branch is needed" in capsys.readouterr().out
