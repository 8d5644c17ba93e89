"""The packages import in one direction: bittorrent <- distribution <- tracker, seeder <- operations.

Read from the source (AST), so an import inside a function counts as much as
one at the top of a module. config, scripts, bench, harness and tests stand apart and
may import anything; nothing imports them back. The fanout command (client/, the
fanout_client package) talks to the server over HTTP and BitTorrent only: it imports
nothing of ours, and nothing of ours but the tests imports it.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# A package may import the packages of a lower rank, never one of its own rank or above.
RANKS = {"bittorrent": 0, "distribution": 1, "tracker": 2, "seeder": 2, "operations": 3}
STANDING_APART = {"config", "scripts", "bench", "tests", "harness", "client", "fanout_client"}
CLIENT = ROOT / "client" / "fanout_client"
# Pure BitTorrent code: no web framework, no database, no task queue.
NOT_IN_BITTORRENT = {"django", "rest_framework", "drf_spectacular", "celery", "redis", "psycopg2"}


def imported_modules(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(package: str, source: str) -> list[str]:
    """Each import in ``source`` (a module of ``package``) that goes against the order."""
    wrong = []
    for line, module in imported_modules(source):
        top = module.split(".")[0]
        if top in STANDING_APART:
            wrong.append(f"{line}: {module} (stands apart; packages do not import it)")
        elif top in RANKS and top != package and RANKS[top] >= RANKS[package]:
            wrong.append(f"{line}: {module} (rank {RANKS[top]}, not below {package}'s {RANKS[package]})")
        elif package == "bittorrent" and top in NOT_IN_BITTORRENT:
            wrong.append(f"{line}: {module} (bittorrent is pure BitTorrent code)")
    return wrong


def package_modules() -> list[tuple[str, Path]]:
    return [
        (package, path)
        for package in RANKS
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    ]


@pytest.mark.parametrize(
    ("package", "path"),
    package_modules(),
    ids=lambda value: str(value.relative_to(ROOT)) if isinstance(value, Path) else value,
)
def test_it_imports_only_below_its_rank(package, path):
    assert violations(package, path.read_text()) == []


def test_every_package_has_modules():
    assert {package for package, _ in package_modules()} == set(RANKS)


@pytest.mark.parametrize(
    ("package", "source", "reason"),
    [
        ("distribution", "from tracker.selectors import load_whitelist", "rank 2"),
        ("distribution", "def f():\n    from seeder import selectors", "rank 2"),
        ("tracker", "import seeder.models", "rank 2"),
        ("seeder", "from operations import swarm_health", "rank 3"),
        ("bittorrent", "from distribution.models import Release", "rank 1"),
        ("bittorrent", "from django.conf import settings", "pure BitTorrent"),
        ("bittorrent", "import redis", "pure BitTorrent"),
        ("operations", "from tests.factories import UserFactory", "stands apart"),
    ],
)
def test_it_catches_an_import_against_the_order(package, source, reason):
    found = violations(package, source)
    assert len(found) == 1 and reason in found[0]


def test_it_lets_an_import_down_the_order_through():
    source = "from bittorrent import bencode\nfrom distribution.models import Release\nimport django"
    assert violations("tracker", source) == []
    assert violations("operations", "from seeder.selectors import release_is_seeded") == []


def client_violations(source: str) -> list[str]:
    """Each import in a module of the fanout command of one of our packages."""
    ours = (set(RANKS) | STANDING_APART) - {"fanout_client"}
    return [
        f"{line}: {module} (the fanout command talks to the server over HTTP only)"
        for line, module in imported_modules(source)
        if module.split(".")[0] in ours
    ]


@pytest.mark.parametrize("path", sorted(CLIENT.rglob("*.py")), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_fanout_command_imports_nothing_of_ours(path):
    assert client_violations(path.read_text()) == []


def test_it_catches_the_fanout_command_importing_the_server_and_the_server_importing_it():
    assert len(client_violations("from distribution.services import incoming_files_from_paths")) == 1
    assert len(client_violations("def f():\n    import bittorrent.bencode")) == 1
    assert client_violations("import libtorrent\nfrom fanout_client.api import Server") == []
    assert "stands apart" in violations("distribution", "from fanout_client import cli")[0]
