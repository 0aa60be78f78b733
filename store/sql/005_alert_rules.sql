-- Alert rules added while running (through the dashboard or the REST API),
-- next to those of the configuration file. The store does not read a rule:
-- spec is the gateway's JSON, kept as it was given.
CREATE TABLE alert_rules (
	name       TEXT PRIMARY KEY,
	spec       BLOB NOT NULL,
	updated_by TEXT NOT NULL DEFAULT '',
	updated    INTEGER NOT NULL -- Unix milliseconds
) WITHOUT ROWID;
