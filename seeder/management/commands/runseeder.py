"""`manage.py runseeder`: run one seeder node until SIGTERM or SIGINT."""

import argparse
import re
import signal
import socket
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from seeder.reconciler import run_node
from seeder.session import SEED_CHOKING, SessionStartError

_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def node_name(value: str) -> str:
    # The name is also a directory under SEEDER_STATE_DIR.
    if not _NODE_NAME.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a node name (letters, digits, '.', '_', '-')")
    return value


def port_number(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number")
    return port


class Command(BaseCommand):
    help = "Seed every published release from this node until stopped."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", type=node_name, default=socket.gethostname(), help="default: host name")
        parser.add_argument(
            "--address",
            default=socket.getfqdn(),
            help="host name or address peers reach this node at, shown with the node (default: this host's)",
        )
        parser.add_argument(
            "--port", type=port_number, default=settings.SEEDER_PORT, help="default: SEEDER_PORT"
        )
        parser.add_argument(
            "--seed-choking",
            choices=sorted(SEED_CHOKING),
            default=(
                settings.FANOUT_SEEDER_POLICY
                if settings.FANOUT_SEEDER_POLICY in SEED_CHOKING
                else "round-robin"
            ),
            help="which peers get upload slots (default from FANOUT_SEEDER_POLICY, else round-robin): "
            "round-robin shares them out; anti-leech favours "
            "peers that are starting or nearly done; fastest-upload favours the fastest",
        )
        parser.add_argument(
            "--super-seeding",
            action=argparse.BooleanOptionalAction,
            default=settings.FANOUT_SEEDER_POLICY == "super-seeding",
            help="BEP 16: offer each peer pieces no one else has yet, so the origin uploads each about once "
            "(default: on when FANOUT_SEEDER_POLICY is super-seeding; rtorrent 0.9.8 stalls on it)",
        )
        parser.add_argument(
            "--economy",
            action=argparse.BooleanOptionalAction,
            default=settings.FANOUT_SEEDER_POLICY == "economy",
            help="upload a torrent at full rate only while its peers lack some piece, then trickle "
            "(default: on when FANOUT_SEEDER_POLICY is economy)",
        )

    def handle(
        self,
        *args,
        name: str,
        address: str,
        port: int,
        seed_choking: str,
        super_seeding: bool,
        economy: bool,
        **options,
    ) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())

        def on_listening(listen_port: int) -> None:
            self.stdout.write(f"seeder {name} listening on port {listen_port}")
            self.stdout.flush()

        try:
            run_node(
                name=name,
                listen_host=address,
                port=port,
                seed_choking=seed_choking,
                super_seeding=super_seeding,
                economy=economy,
                stop=stop,
                on_listening=on_listening,
            )
        except SessionStartError as error:
            raise CommandError(f"seeder {name} cannot start: {error}") from None
