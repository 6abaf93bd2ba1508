"""A tiny STUN server for tests: answers every Binding request as a NAT would, with a public
address of its choosing and the port the request came from (RFC 5389, no authentication)."""

from __future__ import annotations

import socket
import threading

from aioice import stun


class StunResponder:
    def __init__(self, mapped_host: str) -> None:
        self.mapped_host = mapped_host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, name="stun-responder", daemon=True)

    def start(self) -> StunResponder:
        self.thread.start()
        return self

    def _serve(self) -> None:
        while True:
            try:
                data, (host, port) = self.sock.recvfrom(2048)
            except OSError:  # closed
                return
            try:
                request = stun.parse_message(data)
            except ValueError:
                continue
            if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
                continue
            self.requests += 1
            response = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, request.transaction_id)
            response.attributes["XOR-MAPPED-ADDRESS"] = (self.mapped_host, port)
            self.sock.sendto(bytes(response), (host, port))

    def close(self) -> None:
        self.sock.close()
