"""A remote bench: the SIL firmware's pty exported by ser2net over RFC 2217 on 127.0.0.1, flown from here.

The same path a board plugged into another computer takes (`port = "rfc2217://host:port"`).
`?ign_set_control`: ser2net on a pty does not answer pyserial's flow-control option.
"""

import shutil
import socket
import subprocess
import time

import pytest

from hil.api import land
from hil.devices import device_for
from hil.rig import load_rig
from plant.scenario import load_scenario
from tests.conftest import ROOT, write_rig

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("ser2net") is None, reason="needs ser2net")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_listener(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"ser2net did not listen on {port}")


def test_landing_through_ser2net_rfc2217(tmp_path):
    sil = device_for(load_rig(ROOT / "rigs/sil.toml"))
    pty = sil.start()
    port = free_port()
    config = tmp_path / "ser2net.yaml"
    config.write_text("connection: &sil\n"
                      f"    accepter: telnet(rfc2217),tcp(nodelay),127.0.0.1,{port}\n"
                      f"    connector: serialdev,{pty},115200n81,local\n"
                      "    options:\n      kickolduser: true\n      chardelay: false\n")
    server = subprocess.Popen(["ser2net", "-n", "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_listener(port)
        rig = write_rig(tmp_path, f'name = "remote"\nkind = "serial"\n'
                                  f'port = "rfc2217://127.0.0.1:{port}?ign_set_control"\ntimeout_s = 1.0\n')
        result = land(load_scenario("nominal"), rig=load_rig(rig), out=tmp_path / "run")
        assert result.error is None and result.passed, (result.error, result.checks)
        assert result.summary["device"]["device_kind_name"] == "SIL"
    finally:
        server.terminate()
        server.wait(5)
        sil.stop()
