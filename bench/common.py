"""What the benches share: a realistic catalog, memory figures, a throw-away PostgreSQL.

Imported by the bench scripts (run from the repo root as plain scripts); not part of
the installed package.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPLIERS = ("Acme", "Beta")
RESULT_MARK = "BENCH-RESULT "  # prefix of the one stdout line a child reports on
CATALOG_HEADER = "sku,title,supplier,supplier_sku,priority,low_stock_threshold,price"

_CATEGORIES = {
    "MUG": ("Mug", "Cup", "Tumbler"),
    "TSH": ("T-Shirt", "Tee", "Tank Top"),
    "CAP": ("Cap", "Beanie", "Bucket Hat"),
    "BAG": ("Tote Bag", "Backpack", "Pouch"),
    "LMP": ("Desk Lamp", "Night Light", "Lantern"),
    "PHC": ("Phone Case", "Phone Stand", "Charger"),
    "CSH": ("Cushion", "Pillow Cover", "Throw Blanket"),
    "PST": ("Poster", "Canvas Print", "Wall Clock"),
    "JWL": ("Necklace", "Bracelet", "Ring"),
    "TOY": ("Plush Toy", "Puzzle", "Yo-Yo"),
}
_COLOURS = ("Black", "White", "Blue", "Red", "Green", "Pink", "Grey", "Navy", "Olive", "Beige")
_MATERIALS = ("Ceramic", "Cotton", "Bamboo", "Steel", "Leather", "Linen", "Glass", "Wool")
_STYLES = ("Classic", "Vintage", "Minimal", "Retro", "Premium", "Eco", "Nordic", "Boho")
_SIZES = ("S", "M", "L", "XL", "350ml", "500ml", "A3", "A4", "Kids", "One Size")


@dataclass(frozen=True, slots=True)
class Catalog:
    path: Path
    rows: int
    sample_sku: str  # an existing SKU, as typed
    sample_title: str


def catalog_rows(products: int, seed: int = 42) -> Iterator[tuple[str, str]]:
    """(sku, title) of `products` made-up products; the same on every run."""
    rng = random.Random(seed)
    codes = list(_CATEGORIES)
    for n in range(1, products + 1):
        code = codes[n % len(codes)]
        colour = rng.choice(_COLOURS)
        sku = f"{code}-{n:06d}-{colour[:2].upper()}"
        noun = rng.choice(_CATEGORIES[code])
        title = (
            f"{rng.choice(_STYLES)} {colour} {rng.choice(_MATERIALS)} {noun} {rng.choice(_SIZES)}"
        )
        yield sku, title


def write_catalog(directory: Path, products: int, seed: int = 42) -> Catalog:
    """A catalog CSV: one row per product, every product offered by one supplier."""
    path = directory / f"catalog-{products}.csv"
    sample: tuple[str, str] = ("", "")
    with path.open("w", encoding="utf-8") as out:
        out.write(CATALOG_HEADER + "\n")
        for n, (sku, title) in enumerate(catalog_rows(products, seed), start=1):
            supplier = SUPPLIERS[n % 2]
            out.write(f"{sku},{title},{supplier},{supplier[0]}-{n:07d},1,5,{n % 97 + 1}.99\n")
            if n == products // 2:
                sample = (sku, title)
    return Catalog(path, products, *sample)


def config_text() -> str:
    lines = ['[slack]\nalert_channel = "#stock-alerts"\n']
    for name in SUPPLIERS:
        lines.append(
            f'[[suppliers]]\nname = "{name}"\nkind = "csv_feed"\n'
            f'url = "feeds/{name.lower()}.csv"\npoll_interval = "15m"\n'
        )
    return "\n".join(lines)


# --- memory -------------------------------------------------------------------------------


def current_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


# --- a throw-away PostgreSQL, as scripts/test-postgres.sh starts one ------------------------


def postgres_bin() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(part) for part in p.parts[-3].split(".") if part.isdigit()],
    )
    override = os.environ.get("PG_BIN")
    if override and (Path(override) / "initdb").exists():
        return Path(override)
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """A PostgreSQL server for the duration of the block: yields an admin URL
    (postgresql://…/postgres), or None when the server binaries are not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        yield None
        return
    workdir = Path(tempfile.mkdtemp(prefix="stockbot-bench-pg-"))
    as_pg: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(workdir, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data, port = workdir / "data", _free_port()
    pg_ctl = [*as_pg, str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        initdb = [*as_pg, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        subprocess.run(initdb, stdout=subprocess.DEVNULL, check=True)
        options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = [*pg_ctl, "-l", str(workdir / "log"), "-w", "-o", options, "start"]
        subprocess.run(start, stdout=subprocess.DEVNULL, check=True)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop = [*pg_ctl, "-m", "immediate", "stop"]
        subprocess.run(stop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


async def create_database(admin_url: str, name: str) -> str:
    """A fresh database on the throw-away server; returns its URL."""
    import asyncpg

    admin = await asyncpg.connect(admin_url, ssl=False)  # a local throw-away server
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def spawn(script: str, phase: str, env: dict[str, str], *options: str) -> dict[str, Any]:
    """Run `script --phase PHASE OPTIONS…` in a child process (its own memory figures);
    what it reported on its RESULT_MARK line."""
    command = [sys.executable, str(Path(script).resolve()), "--phase", phase, *options]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    sys.stderr.write(done.stderr)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return dict(json.loads(line.removeprefix(RESULT_MARK)))
    raise SystemExit(f"{phase} phase failed (exit {done.returncode}):\n{done.stdout}")
