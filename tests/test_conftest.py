"""The suite's own set-up (issue 7): the same answer every time under CI, and no silent skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

from tests.conftest import hypothesis_profile, in_ci

CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def test_ci_profile_is_derandomized_without_an_example_database() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    assert ci.database is None
    assert settings.get_profile("dev").derandomize is False


def test_profile_follows_the_ci_variable() -> None:
    assert hypothesis_profile({"CI": "true"}) == "ci"
    assert hypothesis_profile({"CI": "1"}) == "ci"
    assert hypothesis_profile({}) == "dev"
    assert hypothesis_profile({"CI": "false"}) == "dev"
    assert hypothesis_profile({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}) == "dev"
    assert in_ci({"CI": "TRUE"}) and not in_ci({"CI": ""})


def _run_suite_without_corpus(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """Run this conftest over one trivial test in a checkout that has no ``../shared/corpus``."""
    repo = tmp_path / "checkout"
    (repo / "tests").mkdir(parents=True)
    shutil.copy(CONFTEST, repo / "tests" / "conftest.py")
    (repo / "tests" / "__init__.py").write_text("")
    (repo / "tests" / "test_one.py").write_text("def test_one() -> None:\n    assert True\n")
    (repo / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_missing_corpus_fails_a_ci_run(tmp_path: Path) -> None:
    result = _run_suite_without_corpus(tmp_path, "true")
    assert result.returncode != 0
    assert "shared corpus is absent" in result.stdout + result.stderr


def test_missing_corpus_is_no_failure_outside_ci(tmp_path: Path) -> None:
    result = _run_suite_without_corpus(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
