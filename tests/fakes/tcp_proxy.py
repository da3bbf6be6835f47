"""A loopback TCP proxy that can be cut and restored, to take a server away from a client for a while.

    with TCPProxy(("127.0.0.1", 5432)) as proxy:      # clients connect to proxy.port
        ...
        proxy.cut()       # open connections are closed, new ones refused (nothing listens)
        ...
        proxy.restore()   # listening again on the same port
"""

import socket
import threading
import time


class TCPProxy:
    """Forwards every connection to 127.0.0.1:port to `target`, one thread per direction."""

    def __init__(self, target, host="127.0.0.1", port=0):
        self.target = target
        self._address = (host, port)
        self._lock = threading.Lock()
        self._connections = set()
        self._listener = None
        self._accepting = None
        self.connections_made = 0

    @property
    def port(self):
        return self._address[1]

    def start(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(self._address)
        listener.listen(64)
        listener.settimeout(0.05)
        self._address = listener.getsockname()   # keep the port for restore()
        self._listener, self._stopping = listener, threading.Event()
        self._accepting = threading.Thread(target=self._accept, args=(listener, self._stopping),
                                           name="tcp-proxy", daemon=True)
        self._accepting.start()
        return self

    def cut(self):
        """Stop listening (new connections are refused) and close every open connection."""
        if self._listener is None:
            return
        self._stopping.set()
        self._accepting.join()
        self._listener.close()
        self._listener = self._accepting = None
        with self._lock:
            pairs = list(self._connections)
        for pair in pairs:
            pair.shutdown()

    restore = start

    def stop(self):
        self.cut()
        deadline = time.monotonic() + 5
        while self._connections and time.monotonic() < deadline:
            time.sleep(0.01)   # the pump threads close their sockets as they finish

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _accept(self, listener, stopping):
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = _Pair(client, upstream)
            with self._lock:
                self._connections.add(pair)
                self.connections_made += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, source, sink), daemon=True).start()

    def _pump(self, pair, source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        # Either side hanging up ends the pair, as a real connection would end.
        pair.shutdown()
        if pair.finished_one_direction():
            with self._lock:
                self._connections.discard(pair)
            pair.close()


class _Pair:
    """A proxied connection; closed by the second of its two pump threads to finish."""

    def __init__(self, client, upstream):
        self.sockets = (client, upstream)
        self._lock = threading.Lock()
        self._finished = 0

    def shutdown(self):
        # Wakes both pump threads from recv(); closing under a thread still reading is unsafe.
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def finished_one_direction(self):
        """True for the second caller: both directions are done."""
        with self._lock:
            self._finished += 1
            return self._finished == 2

    def close(self):
        for sock in self.sockets:
            sock.close()
