"""Everything `make run` does: prepare, then run every Fanout process in the foreground.

First the data directory (with the secret key kept there, config/data_dir.py),
the database's migrations and the admin login (printed). Then web (gunicorn),
Celery worker with embedded beat, tracker and seeder, each a child process
whose output is prefixed with its name; Ctrl-C stops them all. If one exits,
the others are stopped too, so a broken component is never hidden.

Stopping sends each process SIGTERM, which each answers by stopping its own
children (gunicorn's workers, Celery's pool); only one still running after
STOP_GRACE_SECONDS is killed, with its whole process group. Should this
supervisor die without stopping them (SIGKILL), the kernel sends each child
SIGTERM (Linux's parent-death signal), and this process gets it in turn when
`make` dies: nothing is left running.
"""

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
STOP_GRACE_SECONDS = 10
_PR_SET_PDEATHSIG = 1


def term_when_parent_dies() -> None:
    """Ask Linux for SIGTERM when the parent process dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the request: act on it now
        os.kill(os.getpid(), signal.SIGTERM)


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


# The Celery worker hands its running tasks back on SIGTERM, after a few seconds to finish them
# (CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT), rather than waiting for a build however long it takes.
CHILD_ENVIRONMENT = {"worker": {"REMAP_SIGTERM": "SIGQUIT"}}


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
            # A client held back by the web seed's pace keeps its thread for its whole download.
            "--threads",
            "8",
            "--timeout",
            "600",
            # On SIGTERM, requests in flight get this long (a tus upload resumes where it stopped).
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
            # Its access and error logs write request paths, which carry passkeys.
            "--logger-class",
            "config.gunicorn_logging.RedactingLogger",
            # Its admin socket sits at one path per user (~/.gunicorn): two instances would share it.
            "--no-control-socket",
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
    stopping = threading.Event()

    def request_stop(_signum, _frame) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    term_when_parent_dies()
    prepared = prepare()
    if prepared != 0:
        return prepared
    # Every child is started before any thread is: a preexec_fn is safe only without threads.
    processes = {
        name: subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=dict(os.environ, **CHILD_ENVIRONMENT.get(name, {})),
            preexec_fn=term_when_parent_dies,
        )
        for name, argv in commands().items()
        if not stopping.is_set()
    }
    for name, process in processes.items():
        threading.Thread(target=pump, args=(name, process), daemon=True).start()

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
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, process in processes.items():
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in {STOP_GRACE_SECONDS} s; killing it", flush=True)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return 1 if exited else 0


if __name__ == "__main__":
    sys.exit(main())
