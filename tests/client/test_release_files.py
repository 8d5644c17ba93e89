"""`fanout publish` takes PATHs as `manage.py publish` does: the same release paths for the same trees."""

import os
from pathlib import Path

import pytest
from fanout_client.errors import FanoutError
from fanout_client.release_files import files_from_paths

from distribution.services import ReleaseRejected, incoming_files_from_paths


@pytest.fixture
def tree(tmp_path) -> Path:
    for path, size in {
        "build/app.bin": 1000,
        "build/README.txt": 10,
        "build/assets/logo.png": 300,
        "build/assets/fonts/mono.ttf": 20,
        "build/assets/empty.txt": 0,
        "docs/guide.pdf": 50,
        "notes.txt": 5,
    }.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(os.urandom(size))
    return tmp_path


def client_paths(paths) -> list[tuple[str, int]]:
    return [(f.path, f.size) for f in files_from_paths(paths)]


def server_paths(paths) -> list[tuple[str, int]]:
    return [(f.path, f.size) for f in incoming_files_from_paths(paths)]


@pytest.mark.parametrize(
    "arguments",
    [
        ["build"],
        ["build/assets"],
        ["notes.txt"],
        ["build/app.bin", "notes.txt"],
        ["build/app.bin", "build/README.txt", "build/assets"],
        ["build", "docs", "notes.txt"],
        ["build/assets/fonts", "docs"],
    ],
    ids=lambda arguments: " ".join(arguments),
)
def test_it_gives_the_paths_manage_py_publish_gives(tree, arguments):
    paths = [tree / argument for argument in arguments]

    assert client_paths(paths) == server_paths(paths)


def test_one_folder_gives_its_files_relative_to_it(tree):
    assert client_paths([tree / "build"]) == [
        ("README.txt", 10),
        ("app.bin", 1000),
        ("assets/empty.txt", 0),
        ("assets/fonts/mono.ttf", 20),
        ("assets/logo.png", 300),
    ]


def test_several_paths_give_files_by_name_and_folders_by_name_and_inner_paths(tree):
    assert client_paths([tree / "notes.txt", tree / "build" / "assets" / "fonts", tree / "docs"]) == [
        ("notes.txt", 5),
        ("fonts/mono.ttf", 20),
        ("docs/guide.pdf", 50),
    ]


def test_relative_paths_are_taken_from_the_working_directory(tree, monkeypatch):
    monkeypatch.chdir(tree / "docs")

    assert client_paths(["../build/README.txt", "../notes.txt"]) == [("README.txt", 10), ("notes.txt", 5)]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "missing", "no such file or folder"),
        (lambda root: (root / "hollow").mkdir() or root / "hollow", "the folder has no files"),
        (lambda root: (root / "dangling").symlink_to(root / "nowhere") or root / "dangling", "no such file"),
    ],
    ids=["missing", "empty folder", "dangling link"],
)
def test_it_refuses_what_manage_py_publish_refuses(tmp_path, make, message):
    path = make(tmp_path)

    with pytest.raises(FanoutError, match=message) as refused:
        files_from_paths([path])
    with pytest.raises(ReleaseRejected) as rejected:
        incoming_files_from_paths([path])
    assert str(refused.value) == str(rejected.value)


def test_it_refuses_a_dangling_link_inside_a_folder(tmp_path):
    (tmp_path / "release").mkdir()
    (tmp_path / "release" / "ok.txt").write_text("ok")
    (tmp_path / "release" / "gone").symlink_to(tmp_path / "nowhere")

    with pytest.raises(FanoutError, match="not a regular file"):
        files_from_paths([tmp_path / "release"])
