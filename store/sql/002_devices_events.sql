CREATE TABLE devices (
	id             TEXT PRIMARY KEY,
	name           TEXT NOT NULL DEFAULT '',
	source         TEXT NOT NULL DEFAULT '',
	model          TEXT NOT NULL DEFAULT '',
	firmware       TEXT NOT NULL DEFAULT '',
	units          TEXT NOT NULL DEFAULT '{}', -- JSON object metric -> unit
	first_seen     INTEGER NOT NULL,
	last_seen      INTEGER NOT NULL,
	online         INTEGER NOT NULL DEFAULT 0,
	online_changed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE events (
	id      INTEGER PRIMARY KEY,
	ts      INTEGER NOT NULL,
	kind    TEXT NOT NULL,
	device  TEXT NOT NULL DEFAULT '',
	message TEXT NOT NULL DEFAULT '',
	data    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_ts ON events (ts);
