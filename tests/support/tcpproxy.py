"""A TCP proxy a test controls, to cut a process off from its database like a network would.

`cut()` is a partition: every connection open at that moment is frozen (nothing more is
forwarded either way, yet neither socket is closed: the peers' kernels keep acknowledging, as
over a link that went silent), and connections made during the cut reach nothing. `heal()` ends
it: connections made after it are forwarded as usual; the frozen ones stay frozen.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._pairs: list[tuple[socket.socket, socket.socket, threading.Event]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._down = threading.Event()
        self._silent: list[socket.socket] = []  # accepted during a cut: never answered
        threading.Thread(target=self._accept, daemon=True, name="proxy-accept").start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = None if self._down.is_set() else socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            frozen = threading.Event()
            with self._lock:  # decided under the lock: no pair made during a cut is forwarded
                if server is None or self._down.is_set():
                    self._silent.append(client)
                    if server is not None:
                        server.close()
                    continue
                self._pairs.append((client, server, frozen))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b, frozen), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, frozen: threading.Event) -> None:
        while not frozen.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if frozen.is_set():
                return  # cut: what arrived is dropped, and the sockets stay open
            if not data:
                with suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            try:
                dst.sendall(data)
            except OSError:
                return

    def cut(self) -> int:
        """Freeze every connection open now, and let none through until heal(); returns how
        many were frozen."""
        with self._lock:
            self._down.set()
            pairs = list(self._pairs)
        for _, _, frozen in pairs:
            frozen.set()
        return len(pairs)

    def heal(self) -> None:
        """Let new connections through again (those made during the cut are closed)."""
        with self._lock:
            self._down.clear()
            silent, self._silent = self._silent, []
        for sock in silent:
            sock.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for client, server, frozen in self._pairs:
                frozen.set()
                client.close()
                server.close()
            self._pairs.clear()
            for sock in self._silent:
                sock.close()
            self._silent.clear()
