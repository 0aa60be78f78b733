-- Small named values with an expiry, for the gateway's own state that must
-- survive a restart (the sessions dashboards resume after a reconnect).
CREATE TABLE state (
	key     TEXT PRIMARY KEY,
	value   BLOB NOT NULL,
	expires INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX state_expires ON state (expires);
