"""A TCP forwarder on loopback between the fanout command and the web server that can cut the
client's stream after some bytes (a dropped connection) or swallow it (a network that hangs)."""

import socket
import threading


class CuttingProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        # Bytes from client to server on one connection after which the next cut or stall happens.
        self.cut_after: int | None = None
        self.stall_after: int | None = None
        self.forwarded = 0  # client to server, every connection
        self.cuts = 0
        self.stalled = threading.Event()
        self.upstream_closed_after_stall = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._to_server, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._to_client, args=(upstream, client), daemon=True).start()

    def _to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        sent = 0
        stalled = False
        try:
            while data := client.recv(65536):
                if stalled:
                    continue  # swallowed: the client sends into the void until it dies
                with self.lock:
                    cut, stall = self.cut_after, self.stall_after
                    limit = min(x for x in (cut, stall, sent + len(data)) if x is not None)
                    data = data[: max(0, limit - sent)]
                    self.forwarded += len(data)
                upstream.sendall(data)
                sent += len(data)
                if cut is not None and sent >= cut:
                    with self.lock:
                        self.cut_after = None
                        self.cuts += 1
                    return
                if stall is not None and sent >= stall:
                    stalled = True
                    self.stalled.set()
        except OSError:
            pass
        finally:
            for end in (client, upstream):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                end.close()
            if stalled:
                self.upstream_closed_after_stall.set()

    def _to_client(self, upstream: socket.socket, client: socket.socket) -> None:
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
        except OSError:
            pass
