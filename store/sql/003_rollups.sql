-- Rollups are written once per closed bucket, in bulk (see rollup.go), so
-- clustering them by series costs few page writes and makes a per-series
-- range a contiguous read.
CREATE TABLE rollup_1m (
	series INTEGER NOT NULL,
	bucket INTEGER NOT NULL, -- bucket start, Unix milliseconds
	min    REAL NOT NULL,
	max    REAL NOT NULL,
	sum    REAL NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (series, bucket)
) WITHOUT ROWID;

CREATE TABLE rollup_1h (
	series INTEGER NOT NULL,
	bucket INTEGER NOT NULL,
	min    REAL NOT NULL,
	max    REAL NOT NULL,
	sum    REAL NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (series, bucket)
) WITHOUT ROWID;

-- latest keeps the newest sample per series as of meta.latest_offset; what
-- came after is found by scanning readings from there at open.
CREATE TABLE latest (
	series INTEGER PRIMARY KEY,
	off    INTEGER NOT NULL,
	ts     INTEGER NOT NULL,
	value  REAL,
	text   TEXT
);

INSERT INTO meta (key, value) VALUES
	('rollup_1m_done', 0), -- every 1m bucket before this time is in rollup_1m
	('rollup_1h_done', 0),
	('latest_offset', 0);
