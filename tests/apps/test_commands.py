"""The console commands of setup.py name app functions inside the package."""

import ast
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("train", "convert", "zoo", "analyze", "search")


def test_console_commands_run_the_package_apps():
    commands = re.findall(r'"(ebn-\w+)=([\w.]+):(\w+)"', (ROOT / "setup.py").read_text())
    assert [(c, m) for c, m, _ in commands] == [(f"ebn-{a}", f"ebn_tf.apps.{a}") for a in APPS]
    for _, module, function in commands:
        # Read, not imported: each app defines absl flags, which clash within one process.
        source = Path(importlib.util.find_spec(module).origin).read_text()
        assert function in {
            f.name for f in ast.parse(source).body if isinstance(f, ast.FunctionDef)
        }
