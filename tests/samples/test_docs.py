"""The documents a user reads first stay true: generated parts are current, examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_configuration_reference_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "generate_configuration.py"), "--check"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_configuration_reference_lists_every_option() -> None:
    from rpcmsg.opts import list_opts

    text = (ROOT / "docs" / "configuration.md").read_text()
    for group, opts in list_opts():
        section = text.split(f"## `[{group or 'DEFAULT'}]`", 1)[1].split("\n## ", 1)[0]
        for opt in opts:
            assert f"### `{opt.dest}`" in section, (group, opt.dest)


def test_readme_example_runs() -> None:
    match = re.search(r"<!-- example[^>]*-->\n```python\n(.*?)```", README, re.S)
    assert match, "README lost its example"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 25
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"


def test_readme_asyncio_example_runs() -> None:
    match = re.search(r"<!-- example-asyncio[^>]*-->\n```python\n(.*?)```", README, re.S)
    assert match, "README lost its asyncio example"
    proc = subprocess.run(
        [sys.executable, "-c", match.group(1)], capture_output=True, text=True, timeout=60,
        cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"


def test_readme_shows_the_latest_benchmark_table() -> None:
    latest = (ROOT / "benchmarks" / "results" / "latest.md").read_text()
    start = README.index("<!-- bench-table: benchmarks/results/latest.md -->")
    end = README.index("<!-- /bench-table -->")
    pasted = README[start:end].split("\n", 1)[1]
    assert pasted == latest, "run: python benchmarks/run.py --update-readme"


def test_readme_lists_every_sample() -> None:
    for sample in sorted((ROOT / "samples").glob("*.py")):
        assert f"`{sample.name}`" in README, sample.name


def test_readme_keeps_the_set_up_commands() -> None:
    for marker in ("<!-- demo-command -->", "<!-- test-command -->"):
        assert README.count(marker) == 1
    assert "python samples/hello.py" in README.split("<!-- demo-command -->", 1)[1][:200]


def test_cli_reference_is_current() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    generated_with = re.search(r"with Python (\d+\.\d+)", text)
    assert generated_with, "docs/cli.md lost its header"
    # argparse's layout changes between Python versions: compare text only on the same one.
    if generated_with.group(1) == f"{sys.version_info[0]}.{sys.version_info[1]}":
        proc = subprocess.run(
            [sys.executable, str(ROOT / "docs" / "generate_cli.py"), "--check"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    import argparse

    from rpcmsg.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        section = text.split(f"### `rpcmsg {name}`", 1)[1].split("\n### ", 1)[0]
        for action in command._actions:
            for option in action.option_strings:
                assert option in section, (name, option)


def test_relative_links_lead_somewhere() -> None:
    documents = [ROOT / "README.md", ROOT / "benchmarks" / "README.md"]
    documents += sorted((ROOT / "docs").glob("*.md"))
    for document in documents:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).exists(), f"{document.name} links to {target}"
