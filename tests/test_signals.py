"""SIGTERM handled like Ctrl-C, with the previous handlers restored."""

import os
import signal
import threading

import pytest

from vostool.signals import StopRequest, sigterm_as_interrupt


def test_sigterm_raises_keyboard_interrupt_inside_and_default_after():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10_000_000):  # the handler runs between bytecodes
                pass
    assert signal.getsignal(signal.SIGTERM) is before


def test_stop_request_first_signal_asks_second_aborts():
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000_000):
            if stop.requested:
                break
        assert stop.requested and stop.exit_code == 143
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(10_000_000):
                pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_outside_the_main_thread_nothing_changes():
    seen = []

    def run():
        with sigterm_as_interrupt(), StopRequest() as stop:
            seen.append((signal.getsignal(signal.SIGTERM), stop.exit_code))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [(signal.SIG_DFL, 0)]
