"""The testbed when things around the controller go wrong: a misbehaving wire, a device that dies or
hangs, and `hil` itself being stopped. Each case checks the exit code, that the telemetry holds
every cycle the summary counts, the summary itself, and that no process `hil` started is left.

The wire faults come from the link proxy (hil/link/proxy/) between host and the SIL firmware;
corrupted and dropped replies must cost retries, never a different landing.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from hil.api import NO_FILES, Outputs, Run, Session, land
from hil.record import COLUMNS
from tests.conftest import HIL, ROOT, write_rig

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                 reason="needs make and gcc (the SIL firmware)")]
SIL_RIG = ROOT / "rigs/sil.toml"
DEVICE_CLOCK = {"cmd_step_time_us", "cmd_frame_rx_tick_us", "cmd_step_tick_us", "cmd_read_tick_us",
                "link_retries", "link_misses"}


def sil_rig(tmp_path, extra: str = "", name: str = "rig.toml") -> Path:
    """rigs/sil.toml with the fields in `extra` (TOML lines) set or replaced."""
    keys = {line.split("=")[0].strip() for line in extra.splitlines() if "=" in line}
    lines = [line for line in SIL_RIG.read_text().splitlines() if line.split("=")[0].strip() not in keys]
    text = "\n".join(lines).replace('"../firmware"', f'"{ROOT / "firmware"}"')
    return write_rig(tmp_path, text + "\n" + extra, name)


@pytest.fixture(scope="module")
def clean_sil():
    return land("nominal", rig=str(SIL_RIG), outputs=NO_FILES)


def _same_landing(a, b):
    for name in COLUMNS:
        if name not in DEVICE_CLOCK:
            np.testing.assert_array_equal(a.record[name], b.record[name], err_msg=name)


@pytest.mark.parametrize("rule", ["reply:corrupt:rate=0.001", "reply:corrupt:rate=0.01",
                                  "reply:drop:rate=0.01", "request:corrupt:rate=0.01",
                                  "reply:garbage:rate=0.01", "reply:cut:rate=0.005",
                                  "reply:delay=600ms:rate=0.003"])
def test_a_misbehaving_wire_costs_retries_never_a_different_landing(tmp_path, clean_sil, rule):
    rig = sil_rig(tmp_path, f'link_faults = ["{rule}"]\nlink_fault_seed = 3\n')
    result = land("nominal", rig=str(rig), outputs=Outputs(tmp_path / "run", plots=False, report=False))
    proxy = result.summary["link"]["proxy"]
    hurt = sum(proxy[d][k] for d in ("request", "reply") for k in ("dropped", "corrupted", "cut", "garbage", "delayed"))
    assert hurt > 0, f"{rule}: the proxy did nothing"
    assert result.verdict == "PASS", result.describe()
    assert result.metrics["link_retries"] >= 1
    assert int(result.record["link_retries"].sum()) == result.metrics["link_retries"]
    _same_landing(result, clean_sil)          # no corrupted reply was ever applied
    rows = (tmp_path / "run/telemetry.csv").read_text().count("\n") - 1
    assert rows == result.summary["cycles"] == len(clean_sil.record)


def test_a_link_that_stays_bad_ends_the_run_inconclusive(tmp_path):
    rig = sil_rig(tmp_path, 'link_faults = ["reply:drop:after=300"]\ntimeout_s = 0.1\n')
    proc = subprocess.run([*HIL, "land", "--rig", str(rig), "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "hil: inconclusive: link lost at t=" in proc.stderr and "the link policy gave up after 4" in proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    # Replies 1-3 answer the handshake (identity, config write, read-back): reply 300 is frame 297's.
    assert summary["verdict"] == "INCONCLUSIVE" and summary["cycles"] == 297
    assert summary["link"]["by_kind"] == {"timeout": 4}
    assert (tmp_path / "run/telemetry.csv").read_text().count("\n") == 1 + 297


@pytest.mark.realtime
def test_real_time_misses_are_counted_and_the_landing_goes_on(tmp_path, short_landing, realtime_criteria):
    """Misses hold the last command a period longer, so commands get old: judged with a command-age
    limit those misses allow (at the default 60 ms the run is INCONCLUSIVE: the link made them old)."""
    rig = sil_rig(tmp_path, 'link_faults = ["reply:drop:rate=0.01", "reply:corrupt:rate=0.01", '
                  '"reply:delay=60ms:rate=0.005"]\nlink_fault_seed = 5\ntiming = "realtime"\nphysics_rate_hz = 1000.0\n')
    criteria = tmp_path / "lossy-link-criteria.toml"
    criteria.write_text(Path(realtime_criteria).read_text() + "[command_age_p99_ms]\nmax = 200.0\n")
    result = land(short_landing, rig=str(rig), criteria=str(criteria), outputs=NO_FILES)
    assert result.error is None and result.link_lost is None, result.describe()
    assert result.metrics["link_misses"] >= 10
    assert int(result.record["link_misses"].sum()) == result.metrics["link_misses"]
    if result.verdict == "INCONCLUSIVE":
        pytest.skip(f"this machine did not hold real time: {result.invalid}")
    assert result.verdict == "PASS", result.describe()


# -- the device dies or hangs -------------------------------------------------------------------

def _children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _gone(pid: int, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie whose parent is gone counts as gone once init reaps it
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return True
        except (OSError, IndexError):
            return True
        time.sleep(0.05)
    return False


def _start_landing(tmp_path, *args):
    proc = subprocess.Popen([*HIL, "land", "--out", str(tmp_path / "run"), "--quiet", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    telemetry = tmp_path / "run/telemetry.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not telemetry.exists() or telemetry.stat().st_size < 30_000):
        time.sleep(0.02)
    return proc, _children(proc.pid)


def _check_kept(tmp_path, verdict: str, error_fragment: str) -> dict:
    """The run folder holds the whole record, and the device's pty went with the device."""
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["verdict"] == verdict and error_fragment in (summary["invalid"] or summary["error"] or "")
    assert (tmp_path / "run/telemetry.csv").read_text().count("\n") == 1 + summary["cycles"] > 10
    assert (tmp_path / "run/landing.png").exists()
    port = summary["device"]["port"]
    deadline = time.monotonic() + 5
    while Path(port).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(port).exists(), f"{port} is still there"
    return summary


def test_the_device_killed_mid_flight_is_an_error_naming_it(tmp_path):
    proc, children = _start_landing(tmp_path, "--rig", str(SIL_RIG))
    assert len(children) == 1
    (sil,) = children
    os.kill(sil, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "skycrane-sil exited with code -9" in stderr and "Traceback" not in stderr
    _check_kept(tmp_path, "ERROR", "exited with code -9")


def test_a_hung_device_is_killed_and_not_called_a_crash(tmp_path):
    rig = sil_rig(tmp_path, "timeout_s = 0.1\n")
    proc, (sil,) = _start_landing(tmp_path, "--rig", str(rig))
    os.kill(sil, signal.SIGSTOP)             # hangs: answers nothing, ignores SIGTERM
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr       # the link policy gave up: not a verdict on the controller
    assert "exited with code" not in stderr and "link policy gave up" in stderr
    _check_kept(tmp_path, "INCONCLUSIVE", "link policy gave up")
    assert _gone(sil)


# -- hil itself is stopped ------------------------------------------------------------------------

@pytest.mark.parametrize("signum, code, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM"),
                                                (signal.SIGHUP, 129, "SIGHUP")])
def test_a_signal_stops_the_run_and_the_device_and_keeps_the_record(tmp_path, signum, code, name):
    proc, (sil,) = _start_landing(tmp_path, "--rig", str(SIL_RIG))
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert f"interrupted ({name})" in stderr and "Traceback" not in stderr
    _check_kept(tmp_path, "ERROR", f"interrupted ({name})")
    assert _gone(sil)


def test_a_second_signal_does_not_cut_the_cleanup_short(tmp_path):
    proc, (sil,) = _start_landing(tmp_path, "--rig", str(SIL_RIG))
    proc.send_signal(signal.SIGINT)
    time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    _check_kept(tmp_path, "ERROR", "interrupted (Ctrl-C)")
    assert _gone(sil)


def test_the_device_dies_with_a_host_killed_by_sigkill(tmp_path):
    proc, (sil,) = _start_landing(tmp_path, "--rig", str(SIL_RIG))
    proc.kill()
    proc.communicate(timeout=30)
    assert _gone(sil), "the SIL outlived its host (PR_SET_PDEATHSIG)"


def test_the_loopback_rig_stops_cleanly_on_sigterm(tmp_path):
    proc, _ = _start_landing(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in stderr
    _check_kept(tmp_path, "ERROR", "interrupted (SIGTERM)")


def test_a_session_survives_a_device_that_died_between_runs():
    with Session(str(SIL_RIG)) as session:
        first = session.fly(Run.create("nominal", outputs=NO_FILES))
        session.device._process.kill()
        session.device._process.wait()
        second = session.fly(Run.create("nominal", outputs=NO_FILES))
        assert first.verdict == second.verdict == "PASS" and session.starts == 2


def test_hil_proxy_relays_a_device_with_faults_and_reports_them():
    from hil.devices.loopback import LoopbackDevice
    from hil.errors import CrcError
    from hil.link.rtu_client import RtuClient
    device = LoopbackDevice()
    url = device.start()
    try:
        proc = subprocess.Popen([*HIL, "proxy", "--device", url, "--rule", "reply:corrupt:at=2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = proc.stdout.readline()
        assert first.startswith("PTY "), first
        with RtuClient(first.split()[1], timeout_s=0.5) as client:
            assert len(client.read_holding(0x0000, 4)) == 4
            with pytest.raises(CrcError):
                client.read_holding(0x0000, 4)
            assert len(client.read_holding(0x0000, 4)) == 4
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "corrupted 1" in out or "1 corrupted" in out, out
    finally:
        device.stop()
    bad = subprocess.run([*HIL, "proxy", "--device", "/dev/ttyNOSUCH"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "/dev/ttyNOSUCH" in bad.stderr and "Traceback" not in bad.stderr
