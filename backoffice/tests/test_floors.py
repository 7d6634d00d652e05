"""The floors of the apps (.importlinter) hold on this tree, and the contract breaks
when a module imports a floor above its own, even from inside a function."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path("scripts") / "lint-imports"


def root_packages() -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return config["importlinter"]["root_packages"].split()


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own script, run by the interpreter running the tests
        [sys.executable, str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def copy_of_the_project(target: Path) -> Path:
    """The root packages' Python files, the contract and the script: all lint-imports reads."""

    def not_python(folder, names):
        return [
            name
            for name in names
            if name == "__pycache__" or (Path(folder, name).is_file() and not name.endswith(".py"))
        ]

    for package in root_packages():
        shutil.copytree(ROOT / package, target / package, ignore=not_python)
    shutil.copy(ROOT / ".importlinter", target / ".importlinter")
    (target / "scripts").mkdir()
    shutil.copy(ROOT / LINT_IMPORTS, target / LINT_IMPORTS)
    return target


def test_the_tree_keeps_the_floors():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_an_upward_import_inside_a_function_breaks_the_floors(tmp_path):
    project = copy_of_the_project(tmp_path)
    # numbers asking complaints directly, as it did before numbers.registry.
    (project / "numbers" / "frozen.py").write_text(
        '"""An upward import."""\n\n\ndef is_frozen(number):\n'
        "    from complaints.models import EmergencyBlock\n\n"
        "    return EmergencyBlock.objects.filter(number=number).exists()\n"
    )

    result = lint_imports(project)

    assert result.returncode != 0
    assert "Contracts: 0 kept, 1 broken." in result.stdout
    assert "numbers is not allowed to import complaints" in result.stdout
    # The project's numbers package was analysed, not the standard library's numbers.py.
    assert "numbers.frozen -> complaints.models" in result.stdout


def test_the_bottom_floor_imports_no_app_above_it(tmp_path):
    project = copy_of_the_project(tmp_path)
    (project / "audit" / "reviewer.py").write_text(
        '"""An upward import."""\n\nfrom staff.selectors import can_review\n'
    )

    result = lint_imports(project)

    assert result.returncode != 0
    assert "audit is not allowed to import staff" in result.stdout
