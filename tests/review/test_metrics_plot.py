"""`git mvm metrics plot`: a metric across the commits of a range, to SVG, PNG or HTML."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import configure, error_lines, git, run, write

pytest.importorskip("matplotlib")


@pytest.fixture
def runs(repo: Path) -> Path:
    """Four commits of metrics.toml; the second lacks `loss`."""
    configure(repo, "metrics", 'files = ["metrics.toml"]')
    for i, text in enumerate(["accuracy = 0.8\nloss = 0.5\n", "accuracy = 0.85\n",
                              "accuracy = 0.9\nloss = 0.3\n", "accuracy = 0.88\nloss = 0.35\n"]):
        write(repo / "metrics.toml", text)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"run {i}")
    return repo


def commits(repo: Path, *range_: str) -> list[list[str]]:
    out = git(repo, "log", "--first-parent", "--reverse", "--format=%H %h %cs", *range_)
    return [line.split(" ") for line in out.splitlines()]


def test_plot_svg_with_json_summary(runs: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "m.svg"
    res = run(capsys, runs, "metrics", "plot", "accuracy", "loss", "--revs", "HEAD~3..HEAD",
              "-o", str(out), "--json")
    assert res.rc == 0, res.err
    data = json.loads(res.out)
    expected = commits(runs, "HEAD~3..HEAD")
    assert [[c["sha"], c["short"], c["date"]] for c in data["commits"]] == expected
    assert data["series"] == {"accuracy": [0.85, 0.9, 0.88], "loss": [None, 0.3, 0.35]}
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = out.read_text()
    # each commit's short sha labels the x axis (matplotlib writes text as glyph paths with
    # the string in a comment), the legend names both series
    for _sha, short, _date in expected:
        assert f"<!-- {short} -->" in text
    assert "<!-- accuracy -->" in text and "<!-- loss -->" in text


def test_plot_png_and_html(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                           ) -> None:
    png = tmp_path / "m.png"
    res = run(capsys, runs, "metrics", "plot", "accuracy", "-o", str(png))
    assert res.rc == 0
    # init commit + 4 runs (the last line: matplotlib may first say it builds its font cache)
    assert res.err.splitlines()[-1] == f"wrote {png}: accuracy over 5 commits"
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (600, 450)
    html = tmp_path / "m.html"
    assert run(capsys, runs, "metrics", "plot", "loss", "-n", "2", "-o", str(html)).rc == 0
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    assert "<title>loss over HEAD</title>" in page
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
    assert page.rstrip().endswith("</html>")


def test_plot_refusals(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run(capsys, runs, "metrics", "plot", "recall", "-o", str(tmp_path / "x.svg"))
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: recall is in no metrics file in HEAD"]
    res = run(capsys, runs, "metrics", "plot", "accuracy", "-o", str(tmp_path / "x.pdf"))
    assert res.rc == 2
    assert error_lines(res.err) == ["git mvm: error: -o " + str(tmp_path / "x.pdf")
                                    + ": unknown format .pdf"]
    res = run(capsys, runs, "metrics", "plot", "accuracy")
    assert res.rc == 2
    assert "needs -o FILE" in res.err
    res = run(capsys, runs, "metrics", "plot", "accuracy", "--revs", "nosuch..HEAD", "-o",
              str(tmp_path / "x.svg"))
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: unknown revision 'nosuch'"]
    res = run(capsys, runs, "metrics", "plot", "accuracy", "--revs", "HEAD..HEAD", "-o",
              str(tmp_path / "x.svg"))
    assert res.rc == 1
    assert error_lines(res.err) == ["git mvm: error: no commits in 'HEAD..HEAD'"]
    res = run(capsys, runs, "metrics", "diff", "--revs", "HEAD")
    assert res.rc == 2
    assert not list(tmp_path.glob("x.*"))


def test_plot_warns_of_unreadable_files_and_refuses_a_key_with_no_number(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(runs / "metrics.toml", 'accuracy = 0.9\nmodel = "resnet"\nloss = [\n')
    git(runs, "commit", "-qam", "broken")
    write(runs / "metrics.toml", 'accuracy = 0.91\nmodel = "resnet"\n')
    git(runs, "commit", "-qam", "fixed")
    broken = git(runs, "rev-parse", "--short", "HEAD~1").strip()
    out = tmp_path / "m.svg"
    res = run(capsys, runs, "metrics", "plot", "accuracy", "--revs", "HEAD~2..HEAD",
              "-o", str(out))
    assert res.rc == 0
    warning, wrote = res.err.splitlines()[-2:]
    assert warning.startswith(f"git mvm: warning: metrics.toml at {broken}: invalid TOML: ")
    assert wrote == f"wrote {out}: accuracy over 2 commits"
    data = json.loads(run(capsys, runs, "metrics", "plot", "accuracy", "--revs",
                          "HEAD~2..HEAD", "-o", str(out), "--json").out)
    assert data["series"] == {"accuracy": [None, 0.91]}
    assert [(p["file"], p["rev"], p["key"]) for p in data["problems"]] == [
        ("metrics.toml", broken, None)]
    res = run(capsys, runs, "metrics", "plot", "model", "-o", str(tmp_path / "x.svg"))
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: model is never a number in HEAD: nothing to plot"]
    assert not (tmp_path / "x.svg").exists()


def test_an_output_that_cannot_be_written_is_one_line(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d.svg").mkdir()
    write(tmp_path / "file.txt", "x")
    for output, why in [
        (tmp_path / "d.svg", "Is a directory"),
        (tmp_path / "file.txt" / "x.svg", f"{tmp_path / 'file.txt'} is not a directory"),
    ]:
        res = run(capsys, runs, "metrics", "plot", "accuracy", "-o", str(output))
        assert res.rc == 1
        assert error_lines(res.err) == [f"git mvm: error: -o {output}: cannot write it: {why}"]
        assert "hint: name a file in a directory you can write to" in res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.svg", "file.txt", "repo"]
    # missing directories are made
    res = run(capsys, runs, "metrics", "plot", "accuracy", "-o", str(tmp_path / "a/b/m.svg"))
    assert res.rc == 0
    assert (tmp_path / "a/b/m.svg").read_bytes().startswith(b"<?xml")


def test_missing_matplotlib_names_the_extra(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    res = run(capsys, runs, "metrics", "plot", "accuracy", "-o", str(tmp_path / "x.svg"))
    assert res.rc == 1
    assert error_lines(res.err) == [
        "git mvm: error: plotting needs matplotlib, which is not installed"]
    assert "hint: install the plotting extra: pip install 'gitmv[plots]'" in res.err
    assert not (tmp_path / "x.svg").exists()
