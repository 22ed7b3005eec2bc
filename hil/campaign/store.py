"""A campaign's durable state: one SQLite file (stdlib sqlite3) in the campaign folder.

`cases` holds the case table as generated; `results` one row per case id (the primary key),
written by the coordinator as each case comes back and committed at once, so Ctrl-C, a crash or
a killed worker loses at most the cases in flight, and a case flown twice (a worker that died
after finishing) still has one result. `attempts` records every rig error that was retried.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from hil.errors import ConfigError

DB_FILE = "campaign.db"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cases (
    id INTEGER PRIMARY KEY, point INTEGER NOT NULL, draw INTEGER NOT NULL, seed INTEGER NOT NULL,
    inputs TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY REFERENCES cases(id), verdict TEXT NOT NULL, metrics TEXT NOT NULL,
    failed TEXT NOT NULL, error TEXT, readback TEXT NOT NULL, attempts INTEGER NOT NULL,
    worker TEXT, wall_s REAL, folder TEXT, finished TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER NOT NULL, attempt INTEGER NOT NULL, error TEXT NOT NULL, worker TEXT, at TEXT NOT NULL);
"""


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """The campaign database. Only the coordinator writes it (workers return results)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / DB_FILE
        try:
            self.db = sqlite3.connect(self.path)
        except sqlite3.Error as exc:
            raise ConfigError(f"{self.path}: cannot open the campaign database ({exc})") from None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{self.path}: not a campaign database ({exc})") from None

    def close(self) -> None:
        self.db.close()

    # -- the plan --------------------------------------------------------------------------

    def write_plan(self, meta: dict, cases) -> None:
        """The campaign's description and its whole case table, in one transaction."""
        with self.db:
            self.db.execute("DELETE FROM meta")
            self.db.execute("DELETE FROM cases")
            rows = [("schema", str(SCHEMA_VERSION)), ("created", now())] + [(k, json.dumps(v)) for k, v in meta.items()]
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", rows)
            self.db.executemany("INSERT INTO cases VALUES (?, ?, ?, ?, ?)",
                                [(c.index, c.point, c.draw, c.seed, json.dumps(dict(c.inputs))) for c in cases])

    def meta(self) -> dict:
        rows = dict(self.db.execute("SELECT key, value FROM meta"))
        if "campaign" not in rows:
            raise ConfigError(f"{self.path}: holds no campaign")
        return {k: (v if k in ("schema", "created") else json.loads(v)) for k, v in rows.items()}

    def set_meta(self, key: str, value) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def wall_before(self) -> float:
        """Wall time of the campaign's earlier sessions (before a resume)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'wall_s'").fetchone()
        return float(json.loads(row[0])) if row else 0.0

    def case_rows(self) -> list[tuple[int, int, int, int, dict]]:
        return [(i, p, d, s, json.loads(inputs)) for i, p, d, s, inputs
                in self.db.execute("SELECT id, point, draw, seed, inputs FROM cases ORDER BY id")]

    # -- results -----------------------------------------------------------------------------

    def record(self, case: int, outcome: dict) -> bool:
        """Store a case's result; False when it already had one (that result stands)."""
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                (case, outcome["verdict"], json.dumps(outcome["metrics"]), json.dumps(outcome["failed"]),
                 outcome.get("error"), json.dumps(outcome["readback"]), outcome["attempts"], outcome.get("worker"),
                 outcome.get("wall_s"), outcome.get("folder"), now()))
            for n, (error, worker) in enumerate(outcome.get("retried", []), start=1):
                self.note_attempt(case, n, error, worker, commit=False)
        return cursor.rowcount == 1

    def note_attempt(self, case: int, attempt: int, error: str, worker: str | None, *, commit: bool = True) -> None:
        """A try of a case that the rig spoiled (it is tried again, or given up on)."""
        self.db.execute("INSERT INTO attempts VALUES (?, ?, ?, ?, ?)", (case, attempt, error, worker, now()))
        if commit:
            self.db.commit()

    def done_ids(self) -> set[int]:
        return {row[0] for row in self.db.execute("SELECT id FROM results")}

    def results(self) -> dict[int, dict]:
        out = {}
        for (i, verdict, metrics, failed, error, readback, attempts, worker, wall_s, folder,
             finished) in self.db.execute("SELECT * FROM results ORDER BY id"):
            out[i] = {"verdict": verdict, "metrics": json.loads(metrics), "failed": json.loads(failed),
                      "error": error, "readback": json.loads(readback), "attempts": attempts, "worker": worker,
                      "wall_s": wall_s, "folder": folder, "finished": finished}
        return out

    def attempts(self) -> list[dict]:
        return [{"case": i, "attempt": a, "error": e, "worker": w, "at": at}
                for i, a, e, w, at in self.db.execute("SELECT * FROM attempts ORDER BY rowid")]

    def completeness(self, needed: set[int] | None = None) -> dict:
        """Exactly one result per case: the count of each, the cases with none, and results
        that name no case. `needed`: the cases that must have one (all, unless a sequential test
        stopped the campaign early)."""
        ids = {row[0] for row in self.db.execute("SELECT id FROM cases")}
        done = self.done_ids()
        needed = ids if needed is None else needed
        missing = sorted(needed - done)
        strays = sorted(done - ids)
        return {"cases": len(ids), "results": len(done), "needed": len(needed), "missing": missing[:100],
                "missing_count": len(missing), "strays": strays[:100], "ok": not missing and not strays}
