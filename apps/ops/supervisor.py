"""A small process supervisor: start children, prefix their output, stop them all together.

Why not honcho: we need the embedded servers started before and stopped after
the children, a hard 10 s bound on shutdown, and one exit status; that is a
few dozen lines, not a dependency.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

STOP_GRACE_SECONDS = 7.0


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: Sequence[str]
    # False: its exit is logged and the others keep running (the demo traffic is not Vigil).
    essential: bool = True
    # Started only once this returns True (polled every 0.5 s), e.g. when the web server answers /healthz.
    start_when: Callable[[], bool] | None = None


class Supervisor:
    """Runs children until one exits or SIGINT/SIGTERM arrives, then stops every child."""

    def __init__(self, children: Sequence[ChildSpec], env: Mapping[str, str]) -> None:
        self.specs = list(children)
        self.env = dict(env)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._width = max((len(spec.name) for spec in self.specs), default=4)

    def _pump(self, name: str, stream: object) -> None:
        label = f"{name:<{self._width}} | ".encode()
        for line in iter(stream.readline, b""):  # type: ignore[attr-defined]
            sys.stdout.buffer.write(label + line)
            sys.stdout.buffer.flush()

    def start(self) -> None:
        """Start every child that does not wait for a condition (``_start_due`` starts those)."""
        for spec in self.specs:
            if spec.start_when is None:
                self._start(spec)

    def _start(self, spec: ChildSpec) -> None:
        # Each child leads its own process group, so stopping it reaches its workers too.
        process = subprocess.Popen(
            list(spec.argv),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[spec.name] = process
        threading.Thread(target=self._pump, args=(spec.name, process.stdout), daemon=True).start()

    def _start_due(self) -> None:
        for spec in self.specs:
            if spec.name not in self.processes and spec.start_when is not None and spec.start_when():
                self._start(spec)

    def wait_after_start(self) -> int:
        """Start the children, wait (see ``wait``), stop them; returns the exit status."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            return self.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def wait(self) -> int:
        """Block until a signal or a child's exit; returns the exit status to use."""
        status = 0
        essential = {spec.name: spec.essential for spec in self.specs}
        ended: set[str] = set()
        try:
            while not self._stop.is_set():
                for name, process in list(self.processes.items()):
                    code = process.poll()
                    if code is None or name in ended:
                        continue
                    if not essential[name]:
                        ended.add(name)
                        print(f"vigil: {name} exited with status {code}; the rest keeps running", flush=True)
                        continue
                    print(f"vigil: {name} exited with status {code}; stopping everything", flush=True)
                    status = code or 1
                    self._stop.set()
                    break
                if not self._stop.is_set():
                    self._start_due()
                self._stop.wait(0.5)
        finally:
            self.stop_all()
        return status

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stop.set()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
