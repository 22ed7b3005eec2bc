"""A pseudo-terminal pair standing in for a serial cable between host and device."""

from __future__ import annotations

import os
import tty


def open_pty_pair() -> tuple[int, str]:
    """Open a pty; return (master fd, slave path).

    The device side (e.g. RtuServer.start) serves the master fd; the host opens the slave
    path with pyserial like any serial port. The line is raw and does not echo, so bytes
    pass unchanged both ways. The caller owns the master fd and must os.close() it.

    Until a client opens the slave path (and after it closes it), reads on the master fail
    with EIO; RtuServer waits that out.
    """
    master, slave = os.openpty()
    try:
        # The termios settings live with the pty, so they persist after the slave closes.
        tty.setraw(slave)
        path = os.ttyname(slave)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return master, path
