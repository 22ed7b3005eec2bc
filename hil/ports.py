"""`hil ports`: the serial ports on this computer, with USB IDs and a guess at the board."""

from __future__ import annotations

from serial.tools import list_ports

# USB VID:PID of boards and bridges a bench is likely to have; a guess, never a promise.
KNOWN_BOARDS = {
    (0x2341, 0x0043): "Arduino Uno R3",
    (0x2341, 0x0001): "Arduino Uno",
    (0x2341, 0x0243): "Arduino Uno (16U2)",
    (0x2341, 0x0010): "Arduino Mega 2560",
    (0x2341, 0x0042): "Arduino Mega 2560 R3",
    (0x2A03, 0x0043): "Arduino Uno (arduino.org)",
    (0x1A86, 0x7523): "CH340 USB serial (Uno/Nano/Mega clone)",
    (0x0403, 0x6001): "FTDI FT232R USB serial",
    (0x10C4, 0xEA60): "CP210x USB serial",
    (0x0483, 0x374B): "ST-LINK/V2-1 VCP (Nucleo, e.g. nucleo-f446re)",
    (0x0483, 0x374E): "STLINK-V3 VCP (Nucleo)",
    (0x0483, 0x374F): "STLINK-V3 VCP (Nucleo)",
    (0x0483, 0x5740): "STM32 USB CDC (firmware's own USB)",
}


def guess_board(vid: int | None, pid: int | None) -> str:
    if vid is None or pid is None:
        return "-"
    return KNOWN_BOARDS.get((vid, pid), "unknown USB serial device")


def describe_ports() -> list[dict]:
    rows = []
    for port in sorted(list_ports.comports(), key=lambda p: p.device):
        usb = f"{port.vid:04X}:{port.pid:04X}" if port.vid is not None else "-"
        rows.append({"device": port.device, "usb": usb, "serial_number": port.serial_number or "-",
                     "description": port.description or "-", "board": guess_board(port.vid, port.pid)})
    return rows


def print_ports() -> int:
    rows = describe_ports()
    if not rows:
        print("no serial ports found (is the board plugged in? on Linux, is your user in the dialout group?)")
        return 0
    print(f"{'port':<16} {'VID:PID':<10} {'serial':<22} board guess (description)")
    for r in rows:
        print(f"{r['device']:<16} {r['usb']:<10} {r['serial_number']:<22} {r['board']} ({r['description']})")
    print("\nuse it in a rig: port = \"<port>\", or port = \"hwgrep://<VID:PID>\" to follow the board across USB sockets")
    return 0
