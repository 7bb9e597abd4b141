-- The dock sync stream (proto/camfleet/v1/dock_sync.proto): exactly-once positions, health
-- readings and snapshots, where cameras were last seen, what docks report, alerts, conflicts,
-- rejected items and per-site check-out rules.

-- Highest sequence applied per (dock, epoch, lane); kept forever (a few rows per dock rebuild),
-- so an old epoch's replay is still recognised. Written in the same transaction as the items.
CREATE TABLE sync_positions (
  dock_id    INTEGER NOT NULL REFERENCES docks(id),
  epoch      TEXT NOT NULL CHECK (length(epoch) BETWEEN 16 AND 64),
  lane       INTEGER NOT NULL CHECK (lane IN (1, 2)),  -- SyncLane: 1 custody, 2 telemetry
  applied    INTEGER NOT NULL CHECK (applied >= 0),
  updated_us INTEGER NOT NULL,
  PRIMARY KEY (dock_id, epoch, lane)
) WITHOUT ROWID;

-- Every health reading as received (the HealthReading message, serialized), with the fields
-- that reports filter on as columns. A camera's sequence never repeats, so a reading resent
-- under a new dock epoch is stored once.
CREATE TABLE health_readings (
  id                INTEGER PRIMARY KEY,
  camera_id         INTEGER NOT NULL REFERENCES cameras(id),
  dock_id           INTEGER NOT NULL REFERENCES docks(id),
  slot              INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 256),
  camera_sequence   INTEGER NOT NULL CHECK (camera_sequence >= 0),
  device_us         INTEGER NOT NULL,
  received_us       INTEGER NOT NULL,
  battery_percent   INTEGER NOT NULL CHECK (battery_percent BETWEEN 0 AND 100),
  -- Full-charge capacity as per mille of design capacity; NULL if the camera did not say.
  battery_health_pm INTEGER CHECK (battery_health_pm BETWEEN 0 AND 2000),
  cycle_count       INTEGER NOT NULL CHECK (cycle_count >= 0),
  reading           BLOB NOT NULL,
  UNIQUE (camera_id, camera_sequence)
);
CREATE INDEX health_readings_by_camera ON health_readings(camera_id, device_us, camera_sequence);
CREATE INDEX health_readings_by_received ON health_readings(received_us);

-- What the control plane knows of each camera from the docks: the newest reading (by device
-- time, then camera sequence; never replaced by an older one), and where it was last seen.
CREATE TABLE camera_status (
  camera_id          INTEGER PRIMARY KEY REFERENCES cameras(id),
  last_dock_id       INTEGER REFERENCES docks(id),
  last_slot          INTEGER CHECK (last_slot BETWEEN 1 AND 256),
  health_reading_id  INTEGER REFERENCES health_readings(id),
  health_device_us   INTEGER,
  health_sequence    INTEGER,
  battery_percent    INTEGER CHECK (battery_percent BETWEEN 0 AND 100),
  battery_health_pm  INTEGER,
  -- Set once a worn-battery alert was raised, so it is raised the first time only.
  worn_alerted_us    INTEGER,
  -- The device clock minus server time at the newest reading, if past the bound.
  clock_skew_us      INTEGER,
  CHECK ((health_reading_id IS NULL) = (health_device_us IS NULL))
);
CREATE INDEX camera_status_by_battery ON camera_status(battery_percent);

-- What each dock last reported about itself.
CREATE TABLE dock_status (
  dock_id       INTEGER PRIMARY KEY REFERENCES docks(id),
  epoch         TEXT NOT NULL,
  agent_version TEXT NOT NULL,
  backlog_items INTEGER NOT NULL CHECK (backlog_items >= 0),
  backlog_bytes INTEGER NOT NULL CHECK (backlog_bytes >= 0),
  crl_number    INTEGER NOT NULL,
  reported_us   INTEGER NOT NULL
);

-- Which camera sits in which slot of a dock, as the dock last said.
CREATE TABLE dock_slots (
  dock_id   INTEGER NOT NULL REFERENCES docks(id),
  slot      INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 256),
  serial    TEXT NOT NULL,
  since_us  INTEGER NOT NULL,
  PRIMARY KEY (dock_id, slot)
) WITHOUT ROWID;

-- Things a quartermaster must see. serial is text: an unknown camera has no row.
CREATE TABLE alerts (
  id              INTEGER PRIMARY KEY,
  kind            TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
  site_id         INTEGER NOT NULL REFERENCES sites(id),
  dock_id         INTEGER REFERENCES docks(id),
  slot            INTEGER,
  serial          TEXT NOT NULL DEFAULT '',
  event_us        INTEGER NOT NULL,  -- when it happened, server time
  raised_us       INTEGER NOT NULL,  -- when the control plane recorded it
  message         TEXT NOT NULL,
  acknowledged_us INTEGER,
  acknowledged_by TEXT,
  CHECK ((acknowledged_us IS NULL) = (acknowledged_by IS NULL))
);
CREATE INDEX alerts_by_site ON alerts(site_id, id);
CREATE INDEX alerts_open ON alerts(id) WHERE acknowledged_us IS NULL;

-- A physical fact from a dock that the central decisions do not allow: both are kept.
CREATE TABLE conflicts (
  id               INTEGER PRIMARY KEY,
  kind             TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64),
  site_id          INTEGER NOT NULL REFERENCES sites(id),
  dock_id          INTEGER REFERENCES docks(id),
  serial           TEXT NOT NULL,
  physical_fact    TEXT NOT NULL,  -- JSON: what the dock saw
  central_decision TEXT NOT NULL,  -- why the control plane does not allow it
  event_us         INTEGER NOT NULL,
  raised_us        INTEGER NOT NULL,
  alert_id         INTEGER REFERENCES alerts(id),
  resolved_us      INTEGER,
  resolved_by      TEXT,
  resolution       TEXT NOT NULL DEFAULT '',
  CHECK ((resolved_us IS NULL) = (resolved_by IS NULL))
);
CREATE INDEX conflicts_by_site ON conflicts(site_id, id);

-- Items acknowledged without effect: malformed, oversized or about another site's camera.
CREATE TABLE rejected_items (
  id          INTEGER PRIMARY KEY,
  dock_id     INTEGER NOT NULL REFERENCES docks(id),
  epoch       TEXT NOT NULL,
  lane        INTEGER NOT NULL,
  sequence    INTEGER NOT NULL,
  code        INTEGER NOT NULL,  -- google.rpc.Code
  reason      TEXT NOT NULL,
  received_us INTEGER NOT NULL,
  UNIQUE (dock_id, epoch, lane, sequence)
);

-- Per-site check-out rules; a site without a row uses the defaults in dock_sync_repository.h.
CREATE TABLE site_rules (
  site_id                 INTEGER PRIMARY KEY REFERENCES sites(id),
  minimum_battery_percent INTEGER NOT NULL CHECK (minimum_battery_percent BETWEEN 0 AND 100),
  checkout_duration_s     INTEGER NOT NULL CHECK (checkout_duration_s > 0),
  return_on_dock          INTEGER NOT NULL CHECK (return_on_dock IN (0, 1)),
  shift_s                 INTEGER NOT NULL CHECK (shift_s > 0),
  reserve_s               INTEGER NOT NULL CHECK (reserve_s >= 0),
  updated_us              INTEGER NOT NULL,
  updated_by              TEXT NOT NULL
);
