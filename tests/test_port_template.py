"""The port template (firmware/ports/template): it compiles under the strict flags, stubs every
function of core/port.h, and its main.c runs the loop every port runs."""

import re
import shutil
import subprocess

import pytest

from hil.devices.process import ProcessDevice
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)
FIRMWARE = ROOT / "firmware"
TEMPLATE = FIRMWARE / "ports/template"
HAVE_GCC = shutil.which("make") is not None and shutil.which("gcc") is not None


def _code(text: str) -> str:
    """C text without comments, whitespace runs made one space."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r"\s+", " ", text)


def port_declarations(port_h: str) -> dict[str, str]:
    """name -> prototype ('uint32_t port_time_us(void)') of every port_* function declared."""
    return {m.group(2): m.group(1).strip()
            for m in re.finditer(r"((?:[A-Za-z_][\w ]*?[\w*] ?\**)\b(port_\w+) ?\([^;{)]*\)) ?;", _code(port_h))}


def missing_definitions(port_h: str, sources: list[str]) -> list[str]:
    """Names of port.h functions that no source defines (a body, not a declaration). The
    signature is the compiler's to check: every port includes port.h."""
    code = " ".join(_code(s) for s in sources)
    return [name for name in port_declarations(port_h)
            if not re.search(rf"\b{name} ?\([^;{{)]*\) ?\{{", code)]


def port_h() -> str:
    return (FIRMWARE / "core/port.h").read_text()


def test_port_h_declarations_are_found():
    declared = port_declarations(port_h())
    assert {"port_time_us", "port_uart_write", "port_fault"} <= set(declared)
    assert declared["port_uart_write"] == "void port_uart_write(const uint8_t *data, uint16_t len)"


def test_a_new_port_function_without_a_stub_is_reported():
    extended = port_h().replace("#endif", "/* new */\nvoid port_led(uint8_t on);\n\n#endif")
    sources = [p.read_text() for p in TEMPLATE.glob("*.c")]
    assert missing_definitions(extended, sources) == ["port_led"]
    # a call or a declaration is not a definition; a body is
    assert missing_definitions(extended, sources + ["void f(void) { port_led(1); }\nvoid port_led(uint8_t);"]) \
        == ["port_led"]
    assert missing_definitions(extended, sources + ["void port_led(uint8_t on)\n{\n    (void)on;\n}"]) == []


@pytest.mark.parametrize("port", sorted(p.name for p in (FIRMWARE / "ports").iterdir() if p.is_dir()))
def test_every_port_defines_every_port_function(port):
    sources = [p.read_text() for p in (FIRMWARE / "ports" / port).glob("*.c")]
    assert missing_definitions(port_h(), sources) == []


def test_template_main_runs_the_loop_of_the_ports():
    main = _code((TEMPLATE / "main.c").read_text())
    calls = ["app_init(", "mb_server_init(", "mb_server_feed(", "mb_server_idle(", "app_poll("]
    assert all(c in main for c in calls), [c for c in calls if c not in main]
    assert [main.index(c) for c in calls] == sorted(main.index(c) for c in calls)  # in that order
    assert {"internal.h", "build.mk", "main.c", "port_template.c"} <= {p.name for p in TEMPLATE.iterdir()}


@pytest.mark.skipif(not HAVE_GCC, reason="needs make and gcc")
def test_template_compiles_under_the_strict_flags():
    ProcessDevice(FIRMWARE, ["template-check"], [], "").build()   # the build lock, HilError on failure
    assert (FIRMWARE / "build/template/skycrane-template").is_file()
    nm = shutil.which("nm")
    if nm:
        defined = subprocess.run([nm, "--defined-only", str(FIRMWARE / "build/template/skycrane-template")],
                                 capture_output=True, text=True, check=True).stdout.split()
        assert set(port_declarations(port_h())) <= set(defined)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_template_is_not_in_the_default_or_host_build():
    for goal in ([], ["host"], ["check"]):
        dry = subprocess.run(["make", "-n", "-B", "-C", str(FIRMWARE), *goal], check=False,
                             capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr
        assert "ports/template" not in dry.stdout and "build/template" not in dry.stdout, goal
