"""Starts the whole chain (fake LMArena, real bridge-server, headless Chromium with the real
userscript) through e2e/harness/stack.mjs and hands its OpenAI base URL to the tests."""

import json
import pathlib
import subprocess

import pytest

E2E = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def stack():
    proc = subprocess.Popen(
        ["node", str(E2E / "harness" / "stack.mjs")],
        cwd=E2E,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError("the e2e stack did not start (see stderr above)")
    info = json.loads(line)
    yield info
    proc.stdin.close()
    proc.wait(timeout=30)
