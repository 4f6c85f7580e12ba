"""`erc-bridge new-adapter NAME`: the files it writes pass ruff, and their conformance tests
run in a fresh copy of the project, failing only at the marked TODOs.

Everything is scaffolded into a temporary copy, under a name no guide uses: following
docs/adapters.md in the project itself (`new-adapter acme`, then registering it) must
never make these tests fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.scaffold import ScaffoldError, check_name, files, scaffold

ROOT = Path(__file__).resolve().parents[1]
NAME = "scaffold_probe"
GUIDE_NAME = "acme"  # what docs/adapters.md scaffolds
GENERATED = [
    f"adapters/{NAME}.py",
    f"mappings/{NAME}.py",
    f"tests/emulators/{NAME}.py",
    f"tests/test_conformance_{NAME}.py",
]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the project, as a clone would have it."""
    copy = tmp_path / "erc-bridge"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", f"*{NAME}.py")
    for folder in ("adapters", "mappings", "bridge", "tests"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.mark.parametrize(
    "name", ["Acme", "1acme", "acme-shop", "class", "acme_", "a" * 25, "", "demo", "bigcommerce"]
)
def test_unusable_names_are_refused(name: str) -> None:
    with pytest.raises(ScaffoldError):
        check_name(name)


@pytest.mark.parametrize("name", [NAME, "my_shop2_x", "q" * 24])
def test_usable_names(name: str) -> None:
    check_name(name)


def test_every_file_marks_where_platform_knowledge_goes() -> None:
    written = files("my_shop")
    assert sorted(str(path) for path in written) == sorted(
        [
            "adapters/my_shop.py",
            "mappings/my_shop.py",
            "tests/emulators/my_shop.py",
            "tests/test_conformance_my_shop.py",
        ]
    )
    for path, text in written.items():
        assert "TODO(my_shop)" in text, path
    assert "class MyShopAdapter(HTTPAdapter):" in written[Path("adapters/my_shop.py")]
    assert 'env_prefix="MY_SHOP_"' in written[Path("adapters/my_shop.py")]


def test_existing_files_are_never_overwritten(project: Path) -> None:
    (project / "mappings" / f"{NAME}.py").write_text("# mine\n")
    with pytest.raises(ScaffoldError, match=rf"not overwriting mappings/{NAME}\.py"):
        scaffold(NAME, project)
    assert (project / "mappings" / f"{NAME}.py").read_text() == "# mine\n"
    assert not (project / "adapters" / f"{NAME}.py").exists()


def test_a_folder_that_is_not_the_project_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-adapter", NAME, "--dir", str(tmp_path)]) == 2
    assert "is not an erc-bridge project: it has no adapters/" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_bad_name_is_refused_by_the_command(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-adapter", "Acme-Shop", "--dir", str(project)]) == 2
    assert "not a usable adapter name" in capsys.readouterr().err


def test_new_adapter_on_a_fresh_copy(project: Path) -> None:
    # The project may already hold the guide's adapter, scaffolded or under way.
    for path, text in files(GUIDE_NAME).items():
        if not (project / path).exists():
            (project / path).write_text(text, encoding="utf-8")
    created = run("-m", "bridge.cli", "new-adapter", NAME, cwd=project)
    assert created.returncode == 0, created.stderr
    assert [line.removeprefix("wrote ") for line in created.stdout.splitlines()[:4]] == GENERATED
    assert f'add "{NAME}": "adapters.{NAME}:ScaffoldProbeAdapter"' in created.stdout

    lint = run("-m", "ruff", "check", *GENERATED, cwd=project)
    assert lint.returncode == 0, lint.stdout
    layout = run("-m", "ruff", "format", "--check", *GENERATED, cwd=project)
    assert layout.returncode == 0, layout.stdout

    report = project / "report.xml"
    tests = run(
        "-m", "pytest", f"tests/test_conformance_{NAME}.py", f"--junitxml={report}", cwd=project
    )
    assert "error" not in tests.stdout.splitlines()[-1], tests.stdout[-3000:]
    outcomes: dict[str, list[str]] = {"passed": [], "failed": []}
    for case in ET.parse(report).iter("testcase"):  # noqa: S314 - our own test run's report
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        if failure is None:
            outcomes["passed"].append(case.get("name", ""))
            continue
        outcomes["failed"].append(case.get("name", ""))
        text = f"{failure.get('message')}\n{failure.text}"
        assert f"TODO({NAME})" in text, (case.get("name"), text[-2000:])
    assert outcomes["failed"], "the scaffold's TODOs must fail its tests"
    # As docs/adapters.md says: lookups of unknown ids already work, and every fault case
    # fails at a mark (it maps a body once the platform is well again).
    assert "test_unknown_customer_is_404[R1]" in outcomes["passed"]
    assert "test_unknown_order_is_404[R3]" in outcomes["passed"]
    assert "test_customer_without_orders_has_an_empty_list" in outcomes["passed"]
    assert not [name for name in outcomes["passed"] if name.startswith("test_platform_fault")]
