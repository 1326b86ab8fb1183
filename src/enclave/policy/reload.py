"""Reloading policies in a running server: SIGHUP, a pid file, and a status file.

The server calls :func:`install_sighup_reload` once its event loop runs. From then on:

- ``state_dir/enclave.pid`` holds its pid under an exclusive ``flock``. The lock, not the
  file, says the server is alive: the kernel drops it when the process dies, so a pid
  file left by a crash is recognised as stale and no unrelated process that reused the
  pid is ever signalled (SIGHUP's default action would kill it).
- SIGHUP reloads the policies (:meth:`PolicyEngine.reload`); the outcome becomes an
  :class:`Event` (``policy.reloaded`` or ``policy.reload_failed``) handed to ``on_event``
  and is written to ``state_dir/policy-status.json`` with a generation counter.
- ``enclave policy reload`` (:func:`signal_server`) checks the lock, sends SIGHUP and
  waits for the generation to move, so the operator sees the server's own verdict.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from enclave.clock import Clock, utcnow
from enclave.errors import Conflict, NotFound
from enclave.events import Event
from enclave.policy.interface import PolicyError
from enclave.policy.service import PolicyEngine

PID_FILE = "enclave.pid"
STATUS_FILE = "policy-status.json"


class ServerNotRunning(NotFound):
    code = "server_not_running"


def reload_and_record(
    engine: PolicyEngine, *, actor: str = "system", clock: Clock = utcnow
) -> Event:
    """Reload and describe the outcome as an Event; never raises PolicyError (a failed
    reload keeps the old policies and is itself the thing to record)."""
    at = clock()
    try:
        ids = engine.reload()
    except PolicyError as exc:
        info = engine.info
        data: dict[str, Any] = {
            "directory": info.directory,
            "error": exc.message,
            "file": exc.file,
            "line": exc.line,
            "in_force": info.digest,
        }
        return Event("policy.reload_failed", actor, "policy", at, data)
    info = engine.info
    return Event(
        "policy.reloaded",
        actor,
        "policy",
        at,
        {
            "directory": info.directory,
            "digest": info.digest,
            "files": list(info.files),
            "policies": ids,
            "warnings": list(info.warnings),
        },
    )


class _PidFile:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise Conflict(
                f"another Enclave server (pid {held or '?'}) holds {path}",
                hint="stop it, or give this one its own ENCLAVE_STATE_DIR",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.path, self._fd = path, fd

    def close(self) -> None:
        # Unlink while still holding the lock, so no reader sees our pid unlocked.
        self.path.unlink(missing_ok=True)
        os.close(self._fd)


def _write_status(state_dir: Path, status: dict[str, Any]) -> None:
    path = state_dir / STATUS_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # atomic: a reader sees the old or the new status, whole


class ReloadHook:
    """What :func:`install_sighup_reload` set up; :meth:`close` undoes it."""

    def __init__(
        self,
        engine: PolicyEngine,
        *,
        state_dir: Path | None,
        on_event: Callable[[Event], None] | None,
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._state_dir = state_dir
        self._on_event = on_event
        self._clock = clock
        self._lock = threading.Lock()
        self.generation = 0
        self._pid = _PidFile(state_dir / PID_FILE) if state_dir else None
        self._undo: Callable[[], object] = lambda: None
        self._status(None)

    def _status(self, event: Event | None) -> None:
        if self._state_dir is None:
            return
        info = self._engine.info
        _write_status(
            self._state_dir,
            {
                "pid": os.getpid(),
                "generation": self.generation,
                "at": self._clock().isoformat(),
                "kind": event.kind if event else "policy.loaded",
                "data": dict(event.data) if event else {},
                "in_force": {
                    "directory": info.directory,
                    "digest": info.digest,
                    "policies": list(info.policies),
                },
            },
        )

    def trigger(self) -> Event:
        """What SIGHUP does: reload, hand the event on, publish the status."""
        with self._lock:
            event = reload_and_record(self._engine, actor="signal:SIGHUP", clock=self._clock)
            self.generation += 1
            if self._on_event is not None:
                self._on_event(event)
            self._status(event)
            return event

    def close(self) -> None:
        self._undo()
        self._undo = lambda: None
        if self._pid is not None:
            self._pid.close()
            self._pid = None


def install_sighup_reload(
    engine: PolicyEngine,
    *,
    state_dir: Path | None = None,
    on_event: Callable[[Event], None] | None = None,
    clock: Clock = utcnow,
    loop: asyncio.AbstractEventLoop | None = None,
) -> ReloadHook:
    """Reload ``engine`` on SIGHUP. Call from the main thread, ideally inside the running
    event loop (e.g. the ASGI lifespan startup); call ``close()`` at shutdown.

    With a loop the reload runs as a loop callback (``loop.add_signal_handler``), never
    inside the signal handler itself, so ``on_event`` may take locks freely; it blocks
    the loop for one reload (a few ms for the shipped policies). Without a running loop
    a plain handler starts a thread for it. ``state_dir`` enables ``enclave policy
    reload`` (pid file and status file, see the module docstring).
    """
    hook = ReloadHook(engine, state_dir=state_dir, on_event=on_event, clock=clock)
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
    try:
        if loop is not None:
            running = loop
            running.add_signal_handler(signal.SIGHUP, hook.trigger)
            hook._undo = lambda: running.remove_signal_handler(signal.SIGHUP)
        else:

            def handler(signum: int, frame: FrameType | None) -> None:
                threading.Thread(target=hook.trigger, name="policy-reload", daemon=True).start()

            previous = signal.signal(signal.SIGHUP, handler)
            hook._undo = lambda: signal.signal(signal.SIGHUP, previous)
    except BaseException:
        hook.close()
        raise
    return hook


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = json.loads((state_dir / STATUS_FILE).read_text("utf-8"))
    except FileNotFoundError:
        return None
    return status


def server_pid(state_dir: Path) -> int:
    """The pid of the server holding ``state_dir``'s pid file, or ServerNotRunning."""
    path = state_dir / PID_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise ServerNotRunning(
            f"no running Enclave server found ({path} does not exist)",
            hint="start one with `enclave serve` using the same ENCLAVE_STATE_DIR",
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", "replace").strip()
            if text.isdigit():
                return int(text)
            raise ServerNotRunning(f"{path} holds no pid yet; the server is starting") from None
        raise ServerNotRunning(
            f"no running Enclave server: {path} is stale (left by a server that stopped)"
        )
    finally:
        os.close(fd)


def signal_server(state_dir: Path, *, timeout: float = 10.0) -> dict[str, Any] | None:
    """SIGHUP the server and return its reload status, or None if it did not confirm
    within ``timeout`` seconds."""
    pid = server_pid(state_dir)
    before = read_status(state_dir)
    generation = before["generation"] if before and before.get("pid") == pid else -1
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(state_dir)
        if status and status.get("pid") == pid and status.get("generation", -1) > generation:
            return status
        time.sleep(0.02)  # a CLI polling a file the server rewrites; not a test
    return None


__all__ = [
    "PID_FILE",
    "STATUS_FILE",
    "ReloadHook",
    "ServerNotRunning",
    "install_sighup_reload",
    "read_status",
    "reload_and_record",
    "server_pid",
    "signal_server",
]
