-- Readings: one narrow row per sample. "off" is the reading's offset, the
-- rowid, so rows are appended in offset order and a commit touches only the
-- rightmost pages of the table.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value ANY
) WITHOUT ROWID;

-- epoch is random and created with the file, so a client can tell this
-- database from another one (or from a re-created one at the same path).
INSERT INTO meta (key, value) VALUES
	('epoch', lower(hex(randomblob(16)))),
	('last_offset', 0),
	('clean', 1),
	('queue_bound', 0),
	('pruned_through', 0);

CREATE TABLE series (
	id     INTEGER PRIMARY KEY,
	device TEXT NOT NULL,
	key    TEXT NOT NULL,
	state  INTEGER NOT NULL DEFAULT 0,
	unit   TEXT NOT NULL DEFAULT '',
	UNIQUE (device, key)
);

CREATE TABLE readings (
	off    INTEGER PRIMARY KEY,
	series INTEGER NOT NULL,
	ts     INTEGER NOT NULL, -- Unix milliseconds
	value  REAL,             -- numeric samples
	text   TEXT              -- state samples
);

-- No secondary index on readings: an index on time touches several pages
-- per commit (about three times the rows' own cost, see docs/store.md).
-- Instead each block of consecutive offsets records the time span it holds;
-- time queries scan only the offset ranges whose span overlaps.
CREATE TABLE blocks (
	first_off INTEGER PRIMARY KEY,
	last_off  INTEGER NOT NULL,
	min_ts    INTEGER NOT NULL,
	max_ts    INTEGER NOT NULL
);
