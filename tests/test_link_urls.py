"""RtuClient opening ports and working over pyserial URLs: paths, socket://, spy://, loop://."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from hil.devices.pty_pair import open_pty_pair
from hil.devices.rtu_server import RtuServer
from hil.errors import LinkError, ModbusExceptionReply, PortOpenError
from hil.link.rtu_client import RtuClient
from hil.linkbench import TrivialHandler

pytestmark = pytest.mark.timeout(30)

TIMEOUT_S = 0.3


@pytest.fixture
def pty() -> Iterator[tuple[int, str]]:
    fd, path = open_pty_pair()
    yield fd, path
    os.close(fd)


# -- opening ------------------------------------------------------------------------------


def test_missing_port_raises_port_open_error_naming_it() -> None:
    client = RtuClient("/dev/ttyNOPE-hil-test")
    with pytest.raises(PortOpenError) as info:
        client.open()
    message = str(info.value)
    assert "/dev/ttyNOPE-hil-test" in message and "No such file" in message
    assert "\n" not in message


@pytest.mark.parametrize("url", ["bogus://somewhere", "socket://127.0.0.1:1"])
def test_unopenable_urls_raise_port_open_error(url: str) -> None:
    with pytest.raises(PortOpenError, match=url.replace("/", ".").replace(":", ".")):
        RtuClient(url).open()


def test_using_a_closed_client_is_a_link_error() -> None:
    with pytest.raises(LinkError, match="not open"):
        RtuClient("loop://").read_holding(0, 1)


def test_client_reopens_after_close(pty) -> None:
    fd, path = pty
    server = RtuServer(TrivialHandler())
    server.start(fd)
    try:
        client = RtuClient(path, timeout_s=TIMEOUT_S)
        for _ in range(2):
            with client:
                assert client.read_holding(0, 1) == [0]
            client.close()                                  # idempotent
    finally:
        server.stop()


# -- pyserial URLs ---------------------------------------------------------------------------


def test_socket_url_end_to_end() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        handler = TrivialHandler()
        handler.regs[2] = 1002
        server = RtuServer(handler)
        accepted: list[socket.socket] = []

        def accept() -> None:
            conn, _ = listener.accept()
            accepted.append(conn)
            server.start(conn.fileno())

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        try:
            with RtuClient(f"socket://127.0.0.1:{port}", timeout_s=TIMEOUT_S) as client:
                assert client.read_write(0, [1, 2], 0, 3) == [1, 2, 1002]
                client.write_registers(10, [9, 9])
                assert handler.regs[10:12] == [9, 9]
                with pytest.raises(ModbusExceptionReply) as info:
                    client.read_holding(254, 5)
                assert info.value.code == 2
        finally:
            acceptor.join(timeout=5)
            server.stop()
            for conn in accepted:
                conn.close()


def test_spy_url_wraps_the_port_and_logs_traffic(pty, tmp_path) -> None:
    fd, path = pty
    handler = TrivialHandler()
    handler.regs[0:2] = [1000, 1001]
    server = RtuServer(handler)
    server.start(fd)
    log = tmp_path / "spy.txt"
    try:
        with RtuClient(f"spy://{path}?file={log}", timeout_s=TIMEOUT_S) as client:
            assert client.read_holding(0, 2) == [1000, 1001]
    finally:
        server.stop()
    text = log.read_text()
    assert "TX" in text and "RX" in text and "01 03 00 00 00 02" in text


def test_loop_url_fc06_echo() -> None:
    # loop:// returns what was sent, and an FC06 reply is an echo of the request.
    with RtuClient("loop://", timeout_s=TIMEOUT_S) as client:
        client.write_register(5, 1234, frame=1)


def test_peer_hanging_up_is_a_link_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with RtuClient(f"socket://127.0.0.1:{port}", timeout_s=TIMEOUT_S) as client:
            conn, _ = listener.accept()
            conn.close()
            with pytest.raises(LinkError, match="disconnected") as info:
                client.read_holding(0, 1, frame=9)
            assert client.port in str(info.value) and "(frame 9)" in str(info.value)
