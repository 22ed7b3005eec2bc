"""The `hil` command as a user meets it: exit codes, one-line errors, nothing recorded is lost."""

import json
import os
import signal
import subprocess
import time

import pytest

from hil import icd
from hil.devices.rtu_server import DeviceFailure
from tests.conftest import HIL, ROOT, write_rig, write_scenario

pytestmark = pytest.mark.timeout(60)


def hil(*args, cwd=None, timeout=60):
    return subprocess.run([*HIL, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("hil: error:")]
    assert len(errors) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def serial_rig(tmp_path, port, timeout_s=0.2):
    return write_rig(tmp_path, f'name = "t"\nkind = "serial"\nport = "{port}"\ntimeout_s = {timeout_s}\n')


def test_land_passes_with_exit_0_and_prints_the_table(tmp_path):
    proc = hil("land", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    assert "rover vertical speed at contact" in proc.stdout and proc.stdout.rstrip().endswith("PASS")
    # a lockstep run does not list the timing criteria it does not apply, but says they exist
    assert "physics overruns" not in proc.stdout
    assert "(4 timing criteria apply to real-time runs only: --timing realtime)" in proc.stdout
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"telemetry.csv", "summary.json", "landing.png",
                                                           "report.html"}


def test_land_fails_with_exit_1(tmp_path):
    scenario = write_scenario(tmp_path, "no-detect", {"td_enable": 0})
    proc = hil("land", "--scenario", str(scenario), "--out", str(tmp_path / "run"), "--quiet")
    assert proc.returncode == 1 and proc.stdout.rstrip().endswith("FAIL")


def test_unknown_scenario_name(tmp_path):
    assert_one_line_error(hil("land", "--scenario", "nominl"), "nominl", "nominal")


def test_malformed_rig_toml(tmp_path):
    rig = write_rig(tmp_path, 'kind = "loopback"\nbaudrate = \n')
    assert_one_line_error(hil("land", "--rig", str(rig)), str(rig), "malformed TOML")


def test_rig_field_of_the_wrong_type(tmp_path):
    rig = write_rig(tmp_path, 'kind = "loopback"\nbaudrate = "fast"\n')
    assert_one_line_error(hil("land", "--rig", str(rig)), str(rig), "baudrate")


def test_unknown_rig_field(tmp_path):
    rig = write_rig(tmp_path, 'kind = "loopback"\nbaud = 9600\n')
    assert_one_line_error(hil("land", "--rig", str(rig)), "baud")


def test_scenario_field_of_the_wrong_type(tmp_path):
    scenario = write_scenario(tmp_path, "bad", extra='[plant.rover]\nmass_kg = "heavy"')
    assert_one_line_error(hil("land", "--scenario", str(scenario)), "bad.toml", "plant.rover.mass_kg")


def test_controller_value_out_of_range(tmp_path):
    scenario = write_scenario(tmp_path, "bad-gain", {"td_drop_frac": 2.0})
    assert_one_line_error(hil("land", "--scenario", str(scenario)), "td_drop_frac", "outside")


def test_port_that_does_not_exist(tmp_path):
    rig = serial_rig(tmp_path, "/dev/ttyNOSUCHPORT")
    assert_one_line_error(hil("land", "--rig", str(rig), "--out", str(tmp_path / "run")), "/dev/ttyNOSUCHPORT")


def test_silent_device_times_out_naming_the_port(tmp_path):
    from hil.devices.pty_pair import open_pty_pair
    fd, path = open_pty_pair()  # nobody answers on the other side
    try:
        started = time.monotonic()
        proc = hil("land", "--rig", str(serial_rig(tmp_path, path)), "--out", str(tmp_path / "run"))
        assert time.monotonic() - started < 10
        assert_one_line_error(proc, path, "no answer")
    finally:
        os.close(fd)


def test_device_with_another_icd_is_refused_naming_both(tmp_path, served_controller):
    path, registers, _ = served_controller
    registers._identity = icd.IDENTITY.encode([icd.ICD_VERSION, 0xDEADBEEF, 1, 1])
    proc = hil("land", "--rig", str(serial_rig(tmp_path, path, 0.5)), "--out", str(tmp_path / "run"))
    assert_one_line_error(proc, "0xDEADBEEF", f"0x{icd.LAYOUT_HASH:08X}")


def test_device_failing_mid_run_keeps_what_was_recorded(tmp_path, served_controller):
    path, registers, _ = served_controller
    step = registers._step

    def failing_step():
        if registers.step_count >= 300:
            raise DeviceFailure("simulated device crash")
        step()
    registers._step = failing_step
    proc = hil("land", "--rig", str(serial_rig(tmp_path, path, 0.5)), "--out", str(tmp_path / "run"), "--quiet")
    assert_one_line_error(proc, "exception 04", "frame 301")
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["verdict"] == "ERROR" and summary["cycles"] == 300
    lines = (tmp_path / "run/telemetry.csv").read_text().splitlines()
    assert len(lines) == 1 + 300
    assert (tmp_path / "run/landing.png").exists()


def test_ctrl_c_keeps_what_was_recorded(tmp_path):
    proc = subprocess.Popen([*HIL, "land", "--out", str(tmp_path / "run")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    telemetry = tmp_path / "run/telemetry.csv"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not telemetry.exists() or telemetry.stat().st_size < 20_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in stderr
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert summary["verdict"] == "ERROR" and "interrupted" in summary["error"]
    assert len(telemetry.read_text().splitlines()) == 1 + summary["cycles"] > 10


def test_scenarios_lists_the_catalogue():
    proc = hil("scenarios")
    assert proc.returncode == 0 and "nominal" in proc.stdout and "curiosity" in proc.stdout


def test_icd_check_passes_on_the_committed_files():
    proc = hil("icd", "check")
    assert proc.returncode == 0, proc.stderr


def test_loopback_rig_file_matches_the_built_in_rig():
    from dataclasses import replace

    from hil.rig import Rig, load_rig
    assert replace(load_rig(ROOT / "rigs/loopback.toml"), source="built-in") == Rig()


# -- bad input: one line naming the value, exit 2, no traceback (the reliability issue's list) ----

@pytest.mark.parametrize("args, fragment", [
    (("land", "--seed", "-1"), "argument --seed: '-1' is not a whole number >= 0"),
    (("bench", "--runs", "0"), "argument --runs: '0' is not a whole number above 0"),
    (("bench", "--realtime", "--rates", "abc"), "argument --rates: 'abc' is not a comma-separated list"),
    (("bench", "--realtime", "--rates", "50,5000"), "each rate must be 10..500 Hz"),
    (("test", "--seeds", "0"), "argument --seeds: '0' is not a whole number above 0"),
])
def test_bad_command_line_values_are_one_usage_line(args, fragment):
    proc = hil(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert fragment in proc.stderr.strip().splitlines()[-1]


def test_out_that_cannot_be_a_run_folder_is_refused_before_flying(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    assert_one_line_error(hil("land", "--out", str(a_file)), "is a file, not a folder")
    assert_one_line_error(hil("land", "--out", str(a_file / "run")), "a part of the path is a file")
    assert_one_line_error(hil("land", "--out", "/proc/no-such-run"), "/proc/no-such-run")
    assert_one_line_error(hil("compare", "--rig", "mil", "--rig", "mil", "--out", str(a_file)), "is a file")
    assert a_file.read_text() == "mine"


def test_a_folder_with_an_earlier_run_is_refused_unless_replaced(tmp_path):
    out = tmp_path / "run"
    assert hil("land", "--rig", "mil", "--out", str(out), "--timing", "lockstep", "--quiet").returncode == 0
    (out / "timing.csv").write_text("a real-time run's file, left from before\n")
    assert_one_line_error(hil("land", "--rig", "mil", "--out", str(out), "--quiet"), "is not empty", "--replace")
    proc = hil("land", "--rig", "mil", "--out", str(out), "--quiet", "--replace")
    assert proc.returncode == 0 and not (out / "timing.csv").exists()   # no mixing with the earlier run
    (out / "notes.txt").write_text("the user's")
    assert_one_line_error(hil("land", "--rig", "mil", "--out", str(out), "--replace"), "holds files no run writes")
    assert (out / "notes.txt").exists()


def test_a_scenario_name_cannot_put_its_run_folder_outside_the_runs_root(tmp_path):
    scenario = write_scenario(tmp_path, "escape", extra="")
    scenario.write_text(scenario.read_text().replace('name = "escape"', 'name = "../../escaped"'))
    proc = hil("land", "--rig", "mil", "--scenario", str(scenario), "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    made = [p for p in (tmp_path / "runs").iterdir()]
    assert len(made) == 1 and made[0].name.endswith("-escaped-seed1")
    assert not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("body, fragment", [
    ("timeout_s = nan", "timeout_s must be a finite number"),
    ("boot_wait_s = nan", "boot_wait_s must be a finite number"),
    ("overrun_ms = inf", "overrun_ms must be a finite number"),
    ("grace_s = -inf", "grace_s must be a finite number"),
    ('kind = "sil"\nfirmware_dir = "."\ncommand = ["x"]\npty_pattern = "^PTY \\\\S+"', "pty_pattern needs a group"),
    ('kind = "sil"\nfirmware_dir = "."\ncommand = ["x"]\nmake = ["--eval=all:;@touch /tmp/x"]',
     "make takes targets and VARIABLE=value only"),
    ('kind = "mil"\ntiming = "realtime"', "runs lockstep only"),
    ('kind = "mil"\nlink_faults = ["reply:drop:at=1"]', "link_faults need a wire"),
    ('link_faults = ["reply:explode:at=1"]', "reply:explode:at=1"),
])
def test_rig_values_that_make_no_sense_are_refused(tmp_path, body, fragment):
    rig = write_rig(tmp_path, body + "\n")
    assert_one_line_error(hil("land", "--rig", str(rig)), str(rig), fragment)


@pytest.mark.parametrize("body, fragment", [
    ("[rover_vz_at_contact_mps]\nmax = nan\n", "rover_vz_at_contact_mps.max must be a finite number"),
    ("[td_latency_s]\nmin = 3.0\nmax = 0.2\n", "td_latency_s.min 3 is above its max 0.2"),
])
def test_criteria_that_make_no_sense_are_refused(tmp_path, body, fragment):
    criteria = tmp_path / "criteria.toml"
    criteria.write_text(body)
    assert_one_line_error(hil("land", "--rig", "mil", "--criteria", str(criteria)), str(criteria), fragment)


def test_criteria_naming_a_folder_and_icd_check_on_a_missing_root(tmp_path):
    assert_one_line_error(hil("land", "--criteria", str(tmp_path)), "is a folder, not a file")
    assert_one_line_error(hil("icd", "check", "--root", str(tmp_path / "nope")), "is not a folder")


def test_garbage_at_connect_is_retried_like_silence(tmp_path):
    proc = hil("land", "--link-fault", "reply:corrupt:at=1", "--out", str(tmp_path / "ok"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(hil("land", "--link-fault", "reply:corrupt:every", "--out", str(tmp_path / "bad")),
                          "only garbled answers to the identity request after 3 tries")


@pytest.mark.parametrize("extra, fragment", [
    ("max_time_s = 1e9", "max_time_s must be in (0, 3600] s"),
    ("max_time_s = inf", "max_time_s must be a finite number"),
    ("[initial]\naltitude_m = 1e7", "initial.altitude_m"),
])
def test_scenario_limits_that_make_no_sense_are_refused(tmp_path, extra, fragment):
    scenario = write_scenario(tmp_path, "silly", extra=extra)
    assert_one_line_error(hil("land", "--rig", "mil", "--scenario", str(scenario)), "silly.toml", fragment)
