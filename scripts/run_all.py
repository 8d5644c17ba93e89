"""Everything `make run` does: prepare, then run every Fanout process in the foreground.

First the data directory (with the secret key kept there, config/data_dir.py),
the database's migrations and the admin login (printed). Then web (gunicorn),
Celery worker with embedded beat, tracker and seeder, each a child process
whose output is prefixed with its name; Ctrl-C stops them all. If one exits,
the others are stopped too, so a broken component is never hidden.
"""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
STOP_GRACE_SECONDS = 10


def prepare() -> int:
    """Data directory, migrations, admin login, in that order; the exit status of the first that fails."""
    # Run as a script, this file's folder is on the path, not the project's.
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.data_dir import prepare_data_dir

    prepare_data_dir()
    for step in (["migrate", "--no-input"], ["ensure_admin"]):
        status = subprocess.run([*MANAGE, *step]).returncode
        if status != 0:
            return status
    return 0


def commands() -> dict[str, list[str]]:
    web_port = os.environ.get("WEB_PORT", "8000")
    return {
        "web": [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"0.0.0.0:{web_port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--timeout",
            "600",
            "--access-logfile",
            "-",
        ],
        "worker": [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--beat",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
            "--hostname",
            "worker@%h",
        ],
        "tracker": [*MANAGE, "runtracker"],
        "seeder": [*MANAGE, "runseeder", "--name", os.environ.get("FANOUT_SEEDER_NAME", "local")],
    }


def pump(name: str, process: subprocess.Popen) -> None:
    for line in process.stdout:
        sys.stdout.write(f"{name:>8} | {line}")
        sys.stdout.flush()


def main() -> int:
    os.chdir(ROOT)
    prepared = prepare()
    if prepared != 0:
        return prepared
    processes: dict[str, subprocess.Popen] = {}
    for name, argv in commands().items():
        processes[name] = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        threading.Thread(target=pump, args=(name, processes[name]), daemon=True).start()

    stopping = threading.Event()

    def request_stop(_signum, _frame) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    exited = None
    while not stopping.is_set():
        for name, process in processes.items():
            if process.poll() is not None:
                exited = name
                stopping.set()
                break
        stopping.wait(0.5)

    if exited:
        print(f"{exited} exited with status {processes[exited].returncode}; stopping the others", flush=True)
    else:
        print("stopping Fanout", flush=True)
    for process in processes.values():
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for name, process in processes.items():
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {STOP_GRACE_SECONDS} s; killing it", flush=True)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return 1 if exited else 0


if __name__ == "__main__":
    sys.exit(main())
