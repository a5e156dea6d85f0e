"""The benchmark harness: a quick run of every module, and how docs/benchmarks.md is regenerated."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import bench.__main__ as harness
import pytest
from bench.report import Result, percentile


@pytest.mark.parametrize("name", list(harness.MODULES))
def test_quick_run_of_each_module(name: str, tmp_path: Path) -> None:
    """`python -m bench --quick NAME`: one module per test, so workers share the modules out."""
    out, raw = tmp_path / "benchmarks.md", tmp_path / "results.json"
    code = harness.main(["--quick", name, "--output", str(out), "--json", str(raw)])
    module = json.loads(raw.read_text())["modules"][name]
    assert module["error"] is None, module["error"]
    assert code == 0
    if module["missing"]:
        pytest.skip(f"{harness.MODULES[name]} is not written yet")
    assert module["results"], f"{name} measured nothing"
    text = out.read_text()
    assert text.startswith("# Benchmarks\n") and f"<!-- bench:{name} -->" in text
    for result in module["results"]:
        assert result["value"] == result["value"], f"{result['name']} is NaN"
    if name == "sync":
        # Real counts: a sync with nothing new costs exactly the minimum, one call.
        sync = {r["name"]: r for r in module["results"]}
        empty = sync["Web API calls, sync with nothing new (development)"]
        assert (empty["value"], empty["baseline"], empty["ratio"]) == (1, 1, 1.0)
    if name == "musicbrainz":
        # Real counts: the fewest requests possible, none refused for going too fast.
        mb = {r["name"]: r for r in module["results"]}
        assert mb["MusicBrainz requests"]["ratio"] == 1.0
        assert mb["requests refused for going too fast"]["value"] == 0


@pytest.fixture
def fake_modules(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Result]]:
    """Two tiny benchmark modules standing in for the real ones."""
    figures: dict[str, list[Result]] = {
        "alpha": [Result("speed", 2.0, "s", 10.0, 5.0, "a|b")],
        "beta": [Result("calls", 3, "calls", 1, 1 / 3)],
    }
    for name, results in figures.items():
        module = types.ModuleType(f"fake_{name}")
        module.TITLE = f"The {name} bench"  # type: ignore[attr-defined]
        module.run = lambda quick, results=results: list(results)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, f"fake_{name}", module)
    broken = types.ModuleType("fake_broken")
    broken.run = lambda quick: 1 / 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_broken", broken)
    monkeypatch.setattr(
        harness,
        "MODULES",
        {"alpha": "fake_alpha", "beta": "fake_beta", "broken": "fake_broken", "later": "fake_not_written"},
    )
    monkeypatch.setattr(harness, "environment", lambda: {"machine": "m", "software": "s", "commit": "c"})
    return figures


def test_partial_runs_keep_the_other_sections(tmp_path: Path, fake_modules: dict[str, list[Result]]) -> None:
    out = tmp_path / "benchmarks.md"
    assert harness.main(["alpha", "beta", "--output", str(out)]) == 0
    first = out.read_text()
    assert "| speed | 2 s | 10 s | 5.00× | a\\|b |" in first
    assert "| calls | 3 calls | 1 calls | 0.33× |  |" in first
    assert "_Not measured yet: `python -m bench later`._" in first
    beta_before = harness.existing_sections(first)["beta"]

    fake_modules["alpha"][0] = Result("speed", 4.0, "s", 10.0, 2.5)
    assert harness.main(["alpha", "--output", str(out)]) == 0
    second = out.read_text()
    assert "| speed | 4 s | 10 s | 2.50× |  |" in second
    assert harness.existing_sections(second)["beta"] == beta_before  # untouched
    assert second.index("bench:alpha") < second.index("bench:beta") < second.index("bench:later")


def test_a_failing_module_fails_the_run_and_says_why(
    tmp_path: Path, fake_modules: dict[str, list[Result]]
) -> None:
    out = tmp_path / "benchmarks.md"
    assert harness.main(["broken", "later", "--output", str(out)]) == 1
    text = out.read_text()
    assert "**Failed**: `ZeroDivisionError: division by zero`" in text
    assert "bench:later" in text  # not written yet: a placeholder, not a failure


def test_unknown_module_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        harness.main(["nope"])
    assert stopped.value.code == 2
    assert "unknown benchmark(s) nope" in capsys.readouterr().err


def test_number_formatting_and_percentiles() -> None:
    assert [harness.number(v) for v in (1234567.8, 512.4, 12.34, 3.14159, 0.01234, 7.0)] == [
        "1,234,568",
        "512",
        "12.3",
        "3.14",
        "0.0123",
        "7",
    ]
    samples = [float(v) for v in range(1, 101)]
    assert (percentile(samples, 50), percentile(samples, 95)) == (50.0, 95.0)
