CREATE TABLE runs (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    started_at REAL NOT NULL,
    ended_at REAL,
    scenario TEXT NOT NULL DEFAULT '',
    git_commit TEXT,
    git_branch TEXT,
    config_hash TEXT,
    environment TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'running',
    verdict TEXT
);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_by_branch ON runs (git_branch, scenario, started_at);

CREATE TABLE series (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    kind TEXT NOT NULL,
    UNIQUE (name, labels)
);

CREATE TABLE points (
    run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    series_id INTEGER NOT NULL REFERENCES series (id),
    ts REAL NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX points_by_run ON points (run_pk, series_id, ts);

-- counts: dense bucket counts from bucket index `offset`, little-endian unsigned
-- integers; the first byte is the integer width (2, 4 or 8).
CREATE TABLE histograms (
    run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    series_id INTEGER NOT NULL REFERENCES series (id),
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    "offset" INTEGER NOT NULL,
    counts BLOB NOT NULL,
    zero_count INTEGER NOT NULL,
    total REAL NOT NULL,
    min REAL,
    max REAL
);
CREATE INDEX histograms_by_run ON histograms (run_pk, series_id, "end");

CREATE TABLE verdicts (
    id INTEGER PRIMARY KEY,
    run_pk INTEGER NOT NULL REFERENCES runs (pk) ON DELETE CASCADE,
    source TEXT NOT NULL,
    evaluated_at REAL NOT NULL,
    budget TEXT NOT NULL,
    group_key TEXT NOT NULL,
    status TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX verdicts_by_run ON verdicts (run_pk, source);

CREATE TABLE baselines (
    name TEXT PRIMARY KEY,
    run_pk INTEGER NOT NULL REFERENCES runs (pk),
    created_at REAL NOT NULL
);
