"""docs/api.md claims only what runs: every ```python block on the page runs, in order, as written."""

import contextlib
import io
import os
import re

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_every_python_block_of_the_api_page_runs(tmp_path):
    blocks = BLOCK.findall((ROOT / "docs/api.md").read_text())
    assert len(blocks) >= 6
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(ROOT)                     # the examples name rig files by their path in the repository
    try:
        for number, block in enumerate(blocks, 1):
            if block.lstrip().startswith("# test_"):
                (tmp_path / f"test_block{number}.py").write_text(block)  # a test file: pytest runs it below
                continue
            source = block.replace('"runs/', f'"{tmp_path}/runs/')    # keep run folders out of the repository
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, f"docs/api.md block {number}", "exec"), namespace)
    finally:
        os.chdir(cwd)


def test_the_pytest_file_on_the_api_page_passes(pytester):
    block = next(b for b in BLOCK.findall((ROOT / "docs/api.md").read_text()) if b.lstrip().startswith("# test_"))
    pytester.makepyfile(test_descent=block)
    outcome = pytester.runpytest_subprocess("--rig", "mil", "-p", "no:cacheprovider", "--hil-outputs", "none")
    outcome.assert_outcomes(passed=2, skipped=1)
