"""A `make run` instance for the fanout command's tests, its users and tokens, and the command itself.

One instance serves every test of a module: `make run` takes most of a test's
time budget to start. Its seeder uploads at most SEEDER_UPLOAD_LIMIT bytes/s,
so that a download can be stopped midway, and its public URL (the base of the
web seeds in its torrents) is a port nothing listens on: releases reach the
command from the seeder, through the tracker, only.
"""

import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.loopback import free_port
from harness.processes import MANAGE, RunningProcess
from tests.test_make_run import make_run_env, start_make_run

FANOUT = str(Path(sys.executable).parent / "fanout")
SEEDER_UPLOAD_LIMIT = 1024 * 1024

USERS_AND_TOKENS = """
import json
from django.contrib.auth.models import Group, User
from distribution.api_tokens import issue_api_token
from distribution.access import PUBLISHERS_GROUP

qa = Group.objects.create(name="qa")
publisher = User.objects.create_user("pia")
publisher.groups.add(Group.objects.get(name=PUBLISHERS_GROUP))
member = User.objects.create_user("mia")
member.groups.add(qa)
outsider = User.objects.create_user("olaf")
tokens = {
    "publisher": issue_api_token(publisher, name="ci", scope="publish")[1],
    "publisher_read": issue_api_token(publisher, name="dashboard", scope="read")[1],
    "member": issue_api_token(member, name="fleet", scope="read")[1],
    "outsider": issue_api_token(outsider, name="fleet", scope="read")[1],
}
print("TOKENS " + json.dumps(tokens))
"""


@dataclass
class Instance:
    url: str
    env: dict[str, str]  # for manage.py against the instance
    tokens: dict[str, str]

    def manage(self, *argv: str) -> str:
        done = subprocess.run([*MANAGE, *argv], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    env = make_run_env(
        tmp_path_factory.mktemp("instance") / "data",
        FANOUT_PUBLIC_URL=f"http://localhost:{free_port()}",
        FANOUT_SEEDER_UPLOAD_LIMIT=str(SEEDER_UPLOAD_LIMIT),
        # A client killed midway stays a leecher at the tracker; the seeder would then share its
        # upload limit with that swarm and slow the next tests' releases down.
        FANOUT_SEEDER_DEMAND_INTERVAL="3600",
        # The publisher's pipeline names new products as it goes.
        FANOUT_PRODUCT_CREATORS="publishers",
    )
    started: list[RunningProcess] = []

    def start(name: str, argv: list[str], process_env: dict[str, str]) -> RunningProcess:
        started.append(RunningProcess(name, argv, process_env))
        return started[-1]

    try:
        start_make_run(start, env)
        found = Instance(url=f"http://localhost:{env['WEB_PORT']}", env=env, tokens={})
        output = found.manage("shell", "-c", USERS_AND_TOKENS)
        found.tokens = json.loads(re.search(r"^TOKENS (.*)$", output, re.M).group(1))
        yield found
    finally:
        for process in started:
            process.stop(signal.SIGINT)
            print(f"--- output of {process.name} ---\n{process.transcript()}")


@pytest.fixture
def fanout(instance, tmp_path):
    """Run the fanout command as a user would: a process of its own, server and token in its environment."""

    def run(
        *args: str, token: str, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [FANOUT, *args],
            cwd=cwd or tmp_path,
            env=command_env(instance, token, tmp_path),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def command_env(instance: Instance, token: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "FANOUT_URL": instance.url,
        "FANOUT_TOKEN": token,
    }
