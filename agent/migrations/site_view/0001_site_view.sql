-- The dock's local view of its site (agent/site_view_store.h): the last SiteView the control
-- plane sent, so a dock restarted with the link down still knows who may check out, and the
-- sync state that goes with it. Times are microseconds since the Unix epoch, UTC.

-- One row once a view has arrived: the view as received (for callers that want all of it) and
-- its check-out rules; holders and cameras are also kept below, keyed for lookups.
CREATE TABLE site_view (
  id            INTEGER PRIMARY KEY CHECK (id = 1),
  site_code     TEXT NOT NULL,
  view_us       INTEGER,
  received_us   INTEGER NOT NULL,
  view          BLOB NOT NULL
);

CREATE TABLE site_holder (
  badge         TEXT PRIMARY KEY CHECK (length(badge) >= 1),
  name          TEXT NOT NULL,
  holds_serial  TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE TABLE site_camera (
  serial        TEXT PRIMARY KEY CHECK (length(serial) >= 1),
  state         INTEGER NOT NULL,
  holder_badge  TEXT NOT NULL DEFAULT '',
  revoked       INTEGER NOT NULL CHECK (revoked IN (0, 1))
) WITHOUT ROWID;

-- One row: the server's database generation last seen (empty before the first welcome) and the
-- last measured offset of the dock's clock to the server's (dock minus server).
CREATE TABLE sync_state (
  id                  INTEGER PRIMARY KEY CHECK (id = 1),
  generation          TEXT NOT NULL DEFAULT '',
  clock_offset_us     INTEGER,
  offset_measured_us  INTEGER,
  CHECK ((clock_offset_us IS NULL) = (offset_measured_us IS NULL))
);
INSERT INTO sync_state (id) VALUES (1);
