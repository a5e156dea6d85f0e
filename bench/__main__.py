"""`python -m bench`: run every benchmark module and write docs/benchmarks.md.

    python -m bench                      # all modules, full sizes, rewrites docs/benchmarks.md
    python -m bench sync import          # only these; the other sections of the file are kept
    python -m bench --quick              # tiny sizes, one repetition, markdown on stdout (smoke test)
    python -m bench --output FILE --json FILE.json

Each module implements the interface in bench/report.py. A module that is not written yet is
reported and skipped; a module that raises makes the command exit 1 (and keeps its old section).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from bench.report import Result

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "benchmarks.md"

# Section name → module, in the order the sections appear in docs/benchmarks.md.
MODULES: dict[str, str] = {
    "import": "bench.import_bench",
    "insights": "bench.insights_bench",
    "web": "bench.web_bench",
    "sync": "bench.sync_bench",
    "musicbrainz": "bench.musicbrainz_bench",
    "household": "bench.household_bench",
}

_SECTION = re.compile(r"<!-- bench:(?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n?", re.S)


@dataclass
class Outcome:
    name: str
    title: str
    notes: str = ""
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    missing: bool = False


def _load(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(MODULES[name])
    except ModuleNotFoundError as exc:
        if exc.name == MODULES[name]:
            return None  # not written yet
        raise


def run_module(name: str, quick: bool) -> Outcome:
    """Import and run one benchmark module; failures are captured, not raised."""
    try:
        module = _load(name)
    except Exception:
        return Outcome(name, name, error=traceback.format_exc(limit=3))
    if module is None:
        return Outcome(name, name, missing=True)
    outcome = Outcome(name, str(getattr(module, "TITLE", name)), str(getattr(module, "NOTES", "")).strip())
    started = time.perf_counter()
    try:
        results = module.run(quick)
        if not isinstance(results, list) or not all(isinstance(r, Result) for r in results):
            raise TypeError(f"{MODULES[name]}.run() must return a list of bench.report.Result")
        outcome.results = results
    except Exception:
        outcome.error = traceback.format_exc(limit=5)
    outcome.seconds = time.perf_counter() - started
    return outcome


# -- the environment ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    return "unknown"


def _postgres_version() -> str:
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from bench.report import postgres_admin_url

        url = make_url(postgres_admin_url()).set(drivername="postgresql+psycopg")
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            version = str(conn.execute(text("SHOW server_version")).scalar_one())
        engine.dispose()
        return version.split()[0]
    except Exception:
        return "not reachable"


def _commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        return sha
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment() -> dict[str, str]:
    """Where the figures were measured: enough to tell two runs' machines apart."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({_cpu_model()}), "
        f"{_memory_gb()} RAM, load {load:.1f} at start",
        "software": f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {_postgres_version()}",
        "commit": _commit(),
    }


# -- markdown ----------------------------------------------------------------------------------------


def number(value: float) -> str:
    """A figure readably: 3 significant digits, thousands separated."""
    if value != value or value in (float("inf"), float("-inf")):
        return "n/a"
    magnitude = abs(value)
    if float(value).is_integer() and magnitude < 1e15:
        return f"{int(value):,}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude == 0:
        return "0"
    return f"{value:.3g}"


def _ratio(value: float) -> str:
    return f"{value:.2f}×" if value == value and abs(value) < 100 else f"{number(value)}×"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_section(outcome: Outcome, when: str, command: str) -> str:
    """One module's section, between its markers."""
    lines = [f"<!-- bench:{outcome.name} -->", f"## {outcome.title}", ""]
    lines.append(f"_Measured {when} with `{command}` in {outcome.seconds:.0f} s._")
    lines.append("")
    if outcome.notes:
        lines += [outcome.notes, ""]
    if outcome.error:
        last = outcome.error.strip().splitlines()[-1]
        lines += [f"**Failed**: `{_cell(last)}`", ""]
    if outcome.results:
        lines += [
            "| figure | brapped | baseline | ratio | notes |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for r in outcome.results:
            unit = f" {r.unit}" if r.unit else ""
            baseline = f"{number(r.baseline)}{unit}" if r.baseline is not None else ""
            ratio = _ratio(r.ratio) if r.ratio is not None else ""
            lines.append(
                f"| {_cell(r.name)} | {number(r.value)}{unit} | {baseline} | {ratio} | {_cell(r.notes)} |"
            )
        lines.append("")
    lines.append(f"<!-- /bench:{outcome.name} -->")
    return "\n".join(lines) + "\n"


def _placeholder(name: str) -> str:
    return (
        f"<!-- bench:{name} -->\n## {name}\n\n_Not measured yet: `python -m bench {name}`._\n\n"
        f"<!-- /bench:{name} -->\n"
    )


def render_document(sections: dict[str, str], env: dict[str, str], when: str, command: str) -> str:
    """The whole file: header, then every known section in MODULES order, then any others kept."""
    header = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench` (`make bench`); do not edit by hand: see `bench/README.md`.",
        "Every figure is a median over repeated runs; every ratio compares brapped with a baseline",
        "measured in the same run on the same data (ratio > 1: brapped is better by that factor).",
        "The data is synthetic and deterministic (`bench/generate.py`).",
        "",
        "| last run | |",
        "| --- | --- |",
        f"| date | {when} |",
        f"| command | `{command}` |",
        f"| machine | {env['machine']} |",
        f"| software | {env['software']} |",
        f"| commit | {env['commit']} |",
        "",
        "Sections measured by an earlier, partial run say so in their first line.",
        "",
    ]
    body = [sections.get(name) or _placeholder(name) for name in MODULES]
    body += [text for name, text in sections.items() if name not in MODULES]
    return "\n".join(header) + "\n" + "\n".join(body)


def existing_sections(text: str) -> dict[str, str]:
    """Sections already in a benchmarks.md, by name (kept when their module is not re-run)."""
    return {
        m.group("name"): m.group(0) if m.group(0).endswith("\n") else m.group(0) + "\n"
        for m in _SECTION.finditer(text)
    }


# -- command line ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run brapped's benchmarks.")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"modules to run: {', '.join(MODULES)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (smoke test)")
    parser.add_argument(
        "--output",
        type=Path,
        help="markdown file to write (default: docs/benchmarks.md; stdout with --quick)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    names = args.names or list(MODULES)
    command = "python -m bench" + (" --quick" if args.quick else "") + "".join(f" {n}" for n in args.names)
    env = environment()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    outcomes: list[Outcome] = []
    for name in names:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        outcome = run_module(name, args.quick)
        outcomes.append(outcome)
        if outcome.missing:
            print(f"bench: {name}: {MODULES[name]} is not written yet, skipped", file=sys.stderr)
        elif outcome.error:
            print(f"bench: {name} FAILED after {outcome.seconds:.1f} s:\n{outcome.error}", file=sys.stderr)
        else:
            print(
                f"bench: {name}: {len(outcome.results)} figures in {outcome.seconds:.1f} s", file=sys.stderr
            )

    output = args.output if args.output is not None else (None if args.quick else DOC)
    sections = existing_sections(output.read_text(encoding="utf-8")) if output and output.exists() else {}
    for outcome in outcomes:
        if outcome.missing or (outcome.error and not outcome.results and outcome.name in sections):
            continue  # keep what an earlier run measured rather than replace it by nothing
        sections[outcome.name] = render_section(outcome, when, command)
    document = render_document(sections, env, when, command)
    if output is None:
        sys.stdout.write(document)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(document, encoding="utf-8")
        print(f"bench: wrote {output}", file=sys.stderr)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": when,
                    "command": command,
                    "environment": env,
                    "modules": {
                        o.name: {
                            "title": o.title,
                            "seconds": o.seconds,
                            "error": o.error,
                            "missing": o.missing,
                            "results": [r.as_dict() for r in o.results],
                        }
                        for o in outcomes
                    },
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 1 if any(o.error for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
