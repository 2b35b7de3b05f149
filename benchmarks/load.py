"""Load generation for the serving benchmarks: wrk when installed (Debian package `wrk`), else a
small asyncio HTTP/1.1 client (`Connection`); one row = the median of `runs` runs; the bare
baseline process.

Each request of a row is `(method, path, headers, body)`, cycled through in order by every
connection (wrk gets them as a generated Lua script), so a row can spread over many users or
never repeat a cache key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

Request = tuple[str, str, dict[str, str], bytes]


@dataclass(frozen=True)
class Load:
    connections: int = 32
    seconds: float = 8.0
    runs: int = 3
    threads: int = 1
    tool: str = "wrk" if shutil.which("wrk") else "python"


def announce(load: Load) -> None:
    """Says which load generator measures, and how it falls back when wrk is missing."""
    if load.tool == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk not found: install it (apt-get install wrk) or pass --tool python")
    if load.tool == "python":
        why = "asked for" if shutil.which("wrk") else "wrk not installed (apt-get install wrk)"
        print(
            f"load generator: the Python client ({why}); its own cost per request caps every "
            "row and the baseline alike, so read the ratios, not the rates",
            flush=True,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def host_ticks() -> tuple[int, int] | None:
    """(stolen, all) CPU ticks of this host since boot (Linux's /proc/stat), None elsewhere.
    Stolen ticks are the hypervisor's, given to other guests: on a shared host the same code
    spends up to twice the CPU time per request from one run to the next, and the load average
    does not show it."""
    try:
        head = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    ticks = [int(t) for t in head[1:9]]  # user … steal; guest time is counted in user already
    return (ticks[7] if len(ticks) == 8 else 0), sum(ticks)


def steal_share(before: tuple[int, int] | None) -> float | None:
    """The share of the host's CPU ticks stolen since `before` (`host_ticks`)."""
    after = host_ticks()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)


def measure(base_url: str, requests: Sequence[Request], load: Load) -> dict[str, Any]:
    """The median run (by requests/s) of `load.runs`, with every run's figures beside it."""
    runs = []
    for n in range(load.runs):
        offset = n * len(requests) // max(load.runs, 1)  # later runs start further along
        ordered = [*requests[offset:], *requests[:offset]]
        drive = _wrk if load.tool == "wrk" else _python
        ticks = host_ticks()
        run = drive(base_url, ordered, load)
        run["load_average"] = load_average()
        run["steal_share"] = steal_share(ticks)
        runs.append(run)
    median = sorted(runs, key=lambda r: r["per_second"])[len(runs) // 2]
    return {**median, "runs": [r["per_second"] for r in runs]}


# The requests are read from a file at start (a literal table of tens of thousands of requests
# silently breaks wrk's LuaJIT) and formatted once; each connection then takes the next one.
_LUA = """
local function split(line)
  local out, start = {}, 1
  while true do
    local i = string.find(line, "\\t", start, true)
    if not i then out[#out + 1] = string.sub(line, start); return out end
    out[#out + 1] = string.sub(line, start, i - 1)
    start = i + 1
  end
end

local requests = {}
init = function(args)
  for line in io.lines(args[1]) do
    local f = split(line)
    local headers = {}
    for i = 4, #f - 1, 2 do headers[f[i]] = f[i + 1] end
    local body = nil
    if f[3] ~= "" then body = f[3] end
    requests[#requests + 1] = wrk.format(f[1], f[2], headers, body)
  end
end

local n = 0
request = function()
  n = n % #requests + 1
  return requests[n]
end
"""


def _wrk(base_url: str, requests: Sequence[Request], load: Load) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        script, data = Path(folder) / "requests.lua", Path(folder) / "requests.tsv"
        script.write_text(_LUA)
        with data.open("w") as lines:
            for method, path, headers, body in requests:
                if body:
                    headers = {**headers, "Content-Type": "application/json"}
                fields = [method, path, body.decode(), *(x for kv in headers.items() for x in kv)]
                assert not any("\t" in f or "\n" in f for f in fields), fields
                lines.write("\t".join(fields) + "\n")
        out = subprocess.run(  # noqa: S603
            [
                shutil.which("wrk") or "wrk", f"-t{load.threads}", f"-c{load.connections}",
                f"-d{load.seconds:g}s", "--latency", "-s", str(script), base_url, "--", str(data),
            ],
            capture_output=True, text=True, check=True, timeout=load.seconds + 120,
        ).stdout  # fmt: skip
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _wrk_ms(out, "50%"),
        "p99_ms": _wrk_ms(out, "99%"),
        "requests": requests_done,
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1).strip() if socket_errors else None,
    }


def _wrk_ms(out: str, percentile: str) -> float:
    match = re.search(rf"^\s+{re.escape(percentile)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return round(value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def _python(base_url: str, requests: Sequence[Request], load: Load) -> dict[str, Any]:
    return asyncio.run(_python_async(base_url, requests, load))


async def _python_async(base_url: str, requests: Sequence[Request], load: Load) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + load.seconds
    cursor = 0
    prepared = [prepare(base_url, request) for request in requests]

    async def connection() -> None:
        nonlocal cursor, errors
        async with Connection(base_url) as http:
            while time.perf_counter() < deadline:
                raw = prepared[cursor % len(prepared)]
                cursor += 1
                started = time.perf_counter()
                status, _ = await http.send(raw)
                latencies.append(time.perf_counter() - started)
                errors += not 200 <= status < 300

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(load.connections)))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000.0
    return {
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "requests": len(latencies),
        "errors": errors,
    }


def prepare(base_url: str, request: Request) -> bytes:
    """A request's HTTP/1.1 bytes, formatted once and sent as many times as needed."""
    method, path, headers, body = request
    head = {"Host": urlsplit(base_url).netloc, **headers, "Content-Length": str(len(body))}
    if body:
        head.setdefault("Content-Type", "application/json")
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
    return "\r\n".join(lines).encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection: writes prepared bytes (`prepare`), reads an answer
    framed by Content-Length (what our services and the bare app send). Tens of µs of client
    CPU a request where httpx spends about a millisecond: on a 2-core machine the load
    generator's CPU is taken from the servers it measures."""

    def __init__(self, base_url: str) -> None:
        url = urlsplit(base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """The status and body of the answer to `raw`."""
        assert self._reader is not None and self._writer is not None, "not open"
        self._writer.write(raw)
        head = await self._reader.readuntil(b"\r\n\r\n")
        found = _CONTENT_LENGTH.search(head)
        if found is None:
            raise ValueError(f"an answer without Content-Length: {head[:200]!r}")
        return int(head[9:12]), await self._reader.readexactly(int(found.group(1)))


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def wait_ready(url: str, process: subprocess.Popen[bytes], what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise SystemExit(f"{what} not ready after {seconds:.0f} s")


@contextlib.contextmanager
def bare_baseline(database_url: str | None, log: Path) -> Iterator[str]:
    """The bare FastAPI app (`benchmarks.bare`) on a free port, served as our services are."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if database_url:
        env["DATABASE_URL"] = database_url
    cmd = [
        sys.executable, "-m", "uvicorn", "benchmarks.bare:app", "--host", "127.0.0.1",
        "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)  # noqa: S603
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/items", process, "the bare baseline")
        yield url
    finally:
        process.terminate()
        process.wait(20)


def ratio_table(rows: list[dict[str, Any]]) -> str:
    """Each row beside its baseline: req/s, p50, p99, ratio, the target, the load average and
    the share of the host's CPU stolen during the (median) run."""
    head = (
        f"{'row':<52}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'baseline':>10}{'ratio':>7}"
        f"{'target':>8}{'load':>6}{'steal':>7}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        ratio = row.get("ratio")
        lines.append(
            f"{row['name']:<52}{row['per_second']:>9.0f}{row['p50_ms']:>8.1f}{row['p99_ms']:>8.1f}"
            f"{row.get('baseline_per_second', float('nan')):>10.0f}"
            f"{ratio if ratio is not None else float('nan'):>7.2f}"
            f"{row.get('target', ''):>8}{row['load_average']:>6.1f}"
            f"{_percent(row.get('steal_share')):>7}"
        )
    return "\n".join(lines)


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def against(
    name: str, result: dict[str, Any], baseline: dict[str, Any] | None, target: str
) -> dict[str, Any]:
    row = {"name": name, **result, "target": target}
    if baseline is not None:
        row["baseline_per_second"] = baseline["per_second"]
        row["ratio"] = round(result["per_second"] / baseline["per_second"], 3)
    return row


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")
