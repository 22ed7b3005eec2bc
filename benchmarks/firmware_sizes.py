"""`sizeof` of the firmware core's main structs on each target, as its compiler lays them out.

    .venv/bin/python benchmarks/firmware_sizes.py                  # every target whose compiler is installed
    .venv/bin/python benchmarks/firmware_sizes.py --adu-max 128    # the server's buffers as the AVR builds set them

For each target it compiles one small C file that includes the core's headers and declares one
char array per struct, `char size_<name>[sizeof(struct <name>)]`, then reads the arrays' sizes
back with the target's `nm -S`: the compiler's own layout, with no program to run on the target.
The core's default buffers are MB_ADU_MAX = 256 bytes (--adu-max changes it; the AVR builds use
128). The linked images' totals are what `make -C firmware avr` (avr-size) and `make -C firmware
stm32` (the linker's memory usage) print.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "firmware" / "core"

STRUCTS = ("ctl_config", "ctl_navigation", "ctl_controller", "ctl_sensors", "ctl_commands", "app", "mb_server")

# name: (compiler, flags, nm), flags as the ports build the core
TARGETS = {
    "x86-64 host": ("gcc", ["-O1"], "nm"),
    "Cortex-M4": ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os"],
                  "arm-none-eabi-nm"),
    "ATmega328P": ("avr-gcc", ["-mmcu=atmega328p", "-Os"], "avr-nm"),
}

SOURCE = '#include "app.h"\n#include "ctl_controller.h"\n#include "mb_server.h"\n' + "".join(
    f"char size_{name}[sizeof(struct {name})];\n" for name in STRUCTS)


def sizes(compiler: str, flags: list[str], nm: str, adu_max: int, work: Path) -> dict[str, int]:
    source, obj = work / "sizes.c", work / f"sizes-{compiler}.o"
    source.write_text(SOURCE)
    subprocess.run([compiler, "-std=c99", "-fno-common", f"-I{CORE}", "-DFW_DEVICE_KIND=ICD_DEVICE_KIND_SIL",
                    f"-DMB_ADU_MAX={adu_max}u", *flags, "-c", str(source), "-o", str(obj)], check=True)
    out = subprocess.run([nm, "-S", str(obj)], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3].startswith("size_"):
            found[parts[3][len("size_"):]] = int(parts[1], 16)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adu-max", type=int, default=256, help="MB_ADU_MAX, the server's buffer size (default 256)")
    args = parser.parse_args()
    if not 16 <= args.adu_max <= 256:
        parser.error("--adu-max must be 16..256")
    columns = {}
    with tempfile.TemporaryDirectory() as tmp:
        for target, (compiler, flags, nm) in TARGETS.items():
            if shutil.which(compiler) is None or shutil.which(nm) is None:
                print(f"{target}: {compiler} not installed, skipped", file=sys.stderr)
                continue
            columns[target] = sizes(compiler, flags, nm, args.adu_max, Path(tmp))
    if not columns:
        return 1
    print(f"sizeof, bytes (MB_ADU_MAX = {args.adu_max})")
    print(f"  {'struct':18s}" + "".join(f"{t:>14s}" for t in columns))
    for name in STRUCTS:
        print(f"  {name:18s}" + "".join(f"{columns[t][name]:14d}" for t in columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
