-- The schema that all migrations together produce, kept readable. A test checks that
-- applying every migration to an empty file gives exactly this schema.

CREATE TABLE settings (
  key   TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE sites (
  id         INTEGER PRIMARY KEY,
  code       TEXT NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 32),
  name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  parent_id  INTEGER REFERENCES sites(id),
  created_us INTEGER NOT NULL
);
CREATE INDEX sites_by_parent ON sites(parent_id);

CREATE TABLE holders (
  id           INTEGER PRIMARY KEY,
  badge        TEXT NOT NULL UNIQUE CHECK (length(badge) BETWEEN 1 AND 32),
  name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
  unit         TEXT NOT NULL DEFAULT '',
  home_site_id INTEGER NOT NULL REFERENCES sites(id),
  created_us   INTEGER NOT NULL
);
CREATE INDEX holders_by_site ON holders(home_site_id, badge);

CREATE TABLE cameras (
  id                INTEGER PRIMARY KEY,
  serial            TEXT NOT NULL UNIQUE CHECK (length(serial) BETWEEN 4 AND 32),
  model             TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 64),
  hardware_revision TEXT NOT NULL DEFAULT '',
  -- OR of equalities, not IN: SQLite builds a temporary b-tree for an IN list of three or more
  -- constants each time a statement checks it (migration 0013).
  state             TEXT NOT NULL CHECK (state = 'REGISTERED' OR state = 'AVAILABLE' OR
                      state = 'ISSUED' OR state = 'LOST' OR state = 'FAULTY' OR
                      state = 'RETIRED'),
  site_id           INTEGER NOT NULL REFERENCES sites(id),
  state_note        TEXT NOT NULL DEFAULT '',
  last_seen_us      INTEGER,
  created_us        INTEGER NOT NULL,
  updated_us        INTEGER NOT NULL
);
CREATE INDEX cameras_by_state ON cameras(state, serial);
CREATE INDEX cameras_by_site ON cameras(site_id, serial);
CREATE INDEX cameras_by_model ON cameras(model, serial);
CREATE INDEX cameras_by_last_seen ON cameras(last_seen_us);

CREATE TABLE assignments (
  id               INTEGER PRIMARY KEY,
  camera_id        INTEGER NOT NULL REFERENCES cameras(id),
  holder_id        INTEGER NOT NULL REFERENCES holders(id),
  issued_us        INTEGER NOT NULL,
  issued_by        TEXT NOT NULL,
  due_us           INTEGER NOT NULL,
  issue_note       TEXT NOT NULL DEFAULT '',
  force_reason     TEXT NOT NULL DEFAULT '',
  returned_us      INTEGER,
  returned_by      TEXT,
  return_condition TEXT CHECK (return_condition = 'GOOD' OR return_condition = 'DAMAGED' OR
                                return_condition = 'NOT_RETURNED'),  -- not IN: see cameras.state
  return_note      TEXT NOT NULL DEFAULT '',
  -- An assignment is either open (no return fields) or closed (all of them).
  CHECK ((returned_us IS NULL) = (returned_by IS NULL)),
  CHECK ((returned_us IS NULL) = (return_condition IS NULL))
);
-- At most one open assignment per camera.
CREATE UNIQUE INDEX assignments_one_open_per_camera ON assignments(camera_id)
  WHERE returned_us IS NULL;
CREATE INDEX assignments_by_camera ON assignments(camera_id, id);
CREATE INDEX assignments_open_by_holder ON assignments(holder_id) WHERE returned_us IS NULL;
CREATE INDEX assignments_open_by_due ON assignments(due_us) WHERE returned_us IS NULL;

-- Append-only, hash-chained. hash = SHA-256(prev_hash || canonical encoding of the event).
CREATE TABLE audit_events (
  seq         INTEGER PRIMARY KEY,
  time_us     INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  action      TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id   TEXT NOT NULL,
  details     TEXT NOT NULL,
  prev_hash   BLOB NOT NULL CHECK (length(prev_hash) = 32),
  hash        BLOB NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_by_object ON audit_events(object_id, seq);
CREATE INDEX audit_by_actor ON audit_events(actor, seq);
CREATE INDEX audit_by_action ON audit_events(action, seq);
CREATE INDEX audit_by_time ON audit_events(time_us);

-- The application never changes or removes an event; these catch a bug that tries to.
-- Someone with the file can drop them, which is what the hash chain is for.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Identity: certificates, operators, dock enrollment tokens, docks, supplier CAs.

CREATE TABLE certificates (
  id                INTEGER PRIMARY KEY,
  serial            TEXT NOT NULL UNIQUE,  -- lower-case hex
  role              TEXT NOT NULL CHECK (role IN
                      ('admin', 'quartermaster', 'auditor', 'dock', 'camera', 'server')),
  identity          TEXT NOT NULL,
  subject           TEXT NOT NULL,
  key_fingerprint   TEXT NOT NULL,
  not_before_us     INTEGER NOT NULL,
  not_after_us      INTEGER NOT NULL,
  pem               TEXT NOT NULL,
  issued_us         INTEGER NOT NULL,
  issued_by         TEXT NOT NULL,
  source            TEXT NOT NULL DEFAULT 'fleet-ca' CHECK (source IN ('fleet-ca', 'supplier')),
  revoked_us        INTEGER,
  revocation_reason TEXT CHECK (revocation_reason IN ('KEY_COMPROMISE', 'AFFILIATION_CHANGED',
                      'SUPERSEDED', 'CESSATION_OF_OPERATION', 'PRIVILEGE_WITHDRAWN')),
  revoked_by        TEXT,
  CHECK ((revoked_us IS NULL) = (revocation_reason IS NULL)),
  CHECK ((revoked_us IS NULL) = (revoked_by IS NULL)),
  CHECK (not_after_us > not_before_us)
);
CREATE INDEX certificates_by_identity ON certificates(role, identity, id);
CREATE INDEX certificates_revoked ON certificates(revoked_us) WHERE revoked_us IS NOT NULL;
CREATE INDEX certificates_by_subject ON certificates(subject, id);
CREATE INDEX certificates_by_issuer ON certificates(issued_by, id);

CREATE TABLE operators (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  role       TEXT NOT NULL CHECK (role IN ('admin', 'quartermaster', 'auditor')),
  created_us INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  revoked_us INTEGER
);

CREATE TABLE enrollment_tokens (
  id           INTEGER PRIMARY KEY,
  token_hash   BLOB NOT NULL UNIQUE CHECK (length(token_hash) = 32),  -- SHA-256 of the secret
  site_id      INTEGER NOT NULL REFERENCES sites(id),
  note         TEXT NOT NULL DEFAULT '',
  created_us   INTEGER NOT NULL,
  created_by   TEXT NOT NULL,
  expires_us   INTEGER NOT NULL,
  used_us      INTEGER,
  used_by_dock TEXT,
  CHECK ((used_us IS NULL) = (used_by_dock IS NULL)),
  CHECK (expires_us > created_us)
);

CREATE TABLE docks (
  id              INTEGER PRIMARY KEY,
  dock_id         TEXT NOT NULL UNIQUE CHECK (length(dock_id) BETWEEN 3 AND 64),
  site_id         INTEGER NOT NULL REFERENCES sites(id),
  slot_count      INTEGER NOT NULL DEFAULT 0 CHECK (slot_count BETWEEN 0 AND 256),
  enrolled_us     INTEGER NOT NULL,
  last_contact_us INTEGER,
  revoked_us      INTEGER,
  token_id        INTEGER NOT NULL UNIQUE REFERENCES enrollment_tokens(id)
);
CREATE INDEX docks_by_site ON docks(site_id, dock_id);

CREATE TABLE supplier_cas (
  id           INTEGER PRIMARY KEY,
  name         TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  subject      TEXT NOT NULL,
  pem          TEXT NOT NULL,
  not_after_us INTEGER NOT NULL,
  created_us   INTEGER NOT NULL,
  created_by   TEXT NOT NULL
);

-- Each camera's current certificate (fleet-issued at enrollment, or imported from its supplier).
-- A separate table rather than a column on cameras so that schema.sql stays plain CREATEs.
CREATE TABLE camera_certificates (
  camera_id      INTEGER PRIMARY KEY REFERENCES cameras(id),
  certificate_id INTEGER NOT NULL UNIQUE REFERENCES certificates(id)
);

-- Listing one post's cameras in a given state, in serial order, without a sort.
CREATE INDEX cameras_by_site_state ON cameras(site_id, state, serial);

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

CREATE TABLE firmware_keys (
  id             INTEGER PRIMARY KEY,
  key_id         TEXT NOT NULL UNIQUE CHECK (length(key_id) = 64),
  name           TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
  public_key_pem TEXT NOT NULL,
  added_us       INTEGER NOT NULL,
  added_by       TEXT NOT NULL,
  retired_us     INTEGER,
  retired_by     TEXT,
  retire_reason  TEXT,
  CHECK ((retired_us IS NULL) = (retired_by IS NULL))
);

CREATE TABLE firmware_releases (
  id                  INTEGER PRIMARY KEY,
  -- Hex SHA-256 of the manifest bytes.
  release_id          TEXT NOT NULL UNIQUE CHECK (length(release_id) = 64),
  version             TEXT NOT NULL,
  version_major       INTEGER NOT NULL CHECK (version_major >= 0),
  version_minor       INTEGER NOT NULL CHECK (version_minor >= 0),
  version_patch       INTEGER NOT NULL CHECK (version_patch >= 0),
  image_sha256        TEXT NOT NULL CHECK (length(image_sha256) = 64),
  image_size          INTEGER NOT NULL CHECK (image_size > 0),
  compressed_sha256   TEXT NOT NULL CHECK (length(compressed_sha256) = 64),
  compressed_size     INTEGER NOT NULL CHECK (compressed_size > 0),
  min_battery_percent INTEGER NOT NULL CHECK (min_battery_percent BETWEEN 0 AND 100),
  allow_downgrade     INTEGER NOT NULL CHECK (allow_downgrade IN (0, 1)),
  release_notes       TEXT NOT NULL,
  signed_us           INTEGER NOT NULL,
  signing_key_id      TEXT NOT NULL REFERENCES firmware_keys(key_id),
  manifest            BLOB NOT NULL,
  signature           BLOB NOT NULL CHECK (length(signature) = 64),
  uploaded_us         INTEGER NOT NULL,
  uploaded_by         TEXT NOT NULL,
  withdrawn_us        INTEGER,
  withdrawn_by        TEXT,
  withdraw_reason     TEXT,
  CHECK ((withdrawn_us IS NULL) = (withdrawn_by IS NULL))
);

-- One row per model a release is for; a model has at most one release of a version.
CREATE TABLE firmware_release_models (
  release_id    INTEGER NOT NULL REFERENCES firmware_releases(id),
  model         TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 64),
  version_major INTEGER NOT NULL,
  version_minor INTEGER NOT NULL,
  version_patch INTEGER NOT NULL,
  PRIMARY KEY (release_id, model),
  UNIQUE (model, version_major, version_minor, version_patch)
) WITHOUT ROWID;

-- A delta from an older release's image to this release's image (zstd patch-from).
CREATE TABLE firmware_deltas (
  release_id      INTEGER NOT NULL REFERENCES firmware_releases(id),
  from_release_id INTEGER NOT NULL REFERENCES firmware_releases(id),
  delta_sha256    TEXT NOT NULL CHECK (length(delta_sha256) = 64),
  delta_size      INTEGER NOT NULL CHECK (delta_size > 0),
  PRIMARY KEY (release_id, from_release_id)
) WITHOUT ROWID;

-- Rollouts (0006).
CREATE TABLE rollouts (
  id                  INTEGER PRIMARY KEY,
  release_id          INTEGER NOT NULL REFERENCES firmware_releases(id),
  state               TEXT NOT NULL CHECK (state IN
                        ('RUNNING', 'PAUSED', 'AWAITING_NEXT_WAVE', 'COMPLETED', 'ABORTED')),
  reason              TEXT NOT NULL DEFAULT '',
  -- Cumulative percentages, comma-separated, ending at 100 (e.g. "5,25,100").
  wave_percents       TEXT NOT NULL,
  canary_site_id      INTEGER REFERENCES sites(id),
  -- Waves in all (the canary counts as one) and how many are open.
  wave_count          INTEGER NOT NULL CHECK (wave_count BETWEEN 1 AND 21),
  open_waves          INTEGER NOT NULL CHECK (open_waves BETWEEN 1 AND wave_count),
  -- Failures allowed per wave: a fraction in parts per million, or a count (one is set).
  threshold_ppm       INTEGER CHECK (threshold_ppm BETWEEN 0 AND 1000000),
  threshold_count     INTEGER CHECK (threshold_count >= 0),
  -- The wave whose threshold an admin waived by resuming; 0 if none.
  threshold_waived    INTEGER NOT NULL DEFAULT 0,
  stop_after_wave     INTEGER NOT NULL CHECK (stop_after_wave IN (0, 1)),
  silence_timeout_us  INTEGER NOT NULL CHECK (silence_timeout_us > 0),
  note                TEXT NOT NULL DEFAULT '',
  created_us          INTEGER NOT NULL,
  created_by          TEXT NOT NULL,
  updated_us          INTEGER NOT NULL,
  finished_us         INTEGER,
  CHECK ((threshold_ppm IS NULL) <> (threshold_count IS NULL)),
  CHECK ((finished_us IS NULL) = (state NOT IN ('COMPLETED', 'ABORTED')))
);
CREATE INDEX rollouts_active ON rollouts(state) WHERE state NOT IN ('COMPLETED', 'ABORTED');

-- The selector: kind 'model', 'site' (a site code, with its subtree), 'version' or 'serial'.
CREATE TABLE rollout_targets (
  rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
  kind       TEXT NOT NULL CHECK (kind IN ('model', 'site', 'version', 'serial')),
  value      TEXT NOT NULL CHECK (length(value) BETWEEN 1 AND 64),
  PRIMARY KEY (rollout_id, kind, value)
) WITHOUT ROWID;

CREATE TABLE rollout_windows (
  rollout_id   INTEGER NOT NULL REFERENCES rollouts(id),
  site_id      INTEGER NOT NULL REFERENCES sites(id),
  start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
  end_minute   INTEGER NOT NULL CHECK (end_minute BETWEEN 0 AND 1439),
  time_zone    TEXT NOT NULL,
  PRIMARY KEY (rollout_id, site_id)
) WITHOUT ROWID;

-- One targeted camera. `attempt` counts from 1; a retry of a failed unit raises it.
CREATE TABLE rollout_units (
  rollout_id      INTEGER NOT NULL REFERENCES rollouts(id),
  camera_id       INTEGER NOT NULL REFERENCES cameras(id),
  wave            INTEGER NOT NULL CHECK (wave >= 1),
  state           TEXT NOT NULL CHECK (state IN ('PENDING', 'DOWNLOADING', 'INSTALLING',
                    'SUCCEEDED', 'FAILED', 'ROLLED_BACK')),
  attempt         INTEGER NOT NULL CHECK (attempt >= 1),
  last_error      TEXT NOT NULL DEFAULT '',
  running_version TEXT NOT NULL DEFAULT '',
  -- When the current attempt's job first went down to a dock of the camera's site.
  sent_us         INTEGER,
  progress_us     INTEGER,
  finished_us     INTEGER,
  updated_us      INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, camera_id)
) WITHOUT ROWID;
CREATE INDEX rollout_units_by_camera ON rollout_units(camera_id);
-- The failed-updates report (0008).
CREATE INDEX rollout_units_failed ON rollout_units(rollout_id, camera_id)
  WHERE state IN ('FAILED', 'ROLLED_BACK');

-- Reports and stock checks (migration 0007).
-- Worn-battery report: cameras whose latest reading shows low battery health, or many cycles,
-- found through an index instead of reading every camera's status.
CREATE INDEX camera_status_by_health ON camera_status(battery_health_pm)
  WHERE battery_health_pm IS NOT NULL;
CREATE INDEX health_readings_by_cycles ON health_readings(cycle_count);

-- A recorded stock check: who checked which site when, and what was found.
CREATE TABLE stock_checks (
  id              INTEGER PRIMARY KEY,
  site_id         INTEGER NOT NULL REFERENCES sites(id),
  checked_us      INTEGER NOT NULL,
  checked_by      TEXT NOT NULL,
  window_hours    INTEGER NOT NULL CHECK (window_hours BETWEEN 1 AND 2160),
  expected_count  INTEGER NOT NULL CHECK (expected_count >= 0),
  seen_count      INTEGER NOT NULL CHECK (seen_count >= 0),
  issued_count    INTEGER NOT NULL CHECK (issued_count >= 0),
  missing_count   INTEGER NOT NULL CHECK (missing_count >= 0),
  missing_serials TEXT NOT NULL,  -- space-separated
  note            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX stock_checks_by_site ON stock_checks(site_id, checked_us);

-- How often a site's stock is checked; a site without a row uses 30 days.
CREATE TABLE stock_check_intervals (
  site_id       INTEGER PRIMARY KEY REFERENCES sites(id),
  interval_days INTEGER NOT NULL CHECK (interval_days BETWEEN 1 AND 366),
  updated_us    INTEGER NOT NULL,
  updated_by    TEXT NOT NULL
);

-- List queries that seek instead of reading whole tables (migration 0010).
CREATE INDEX alerts_by_kind ON alerts(kind, id);
CREATE INDEX conflicts_open ON conflicts(id) WHERE resolved_us IS NULL;

-- Big manifest imports (migration 0011), staged in the database so that a restart can finish
-- an import whose publishing had begun, or drop one that had not.
-- state: STAGING (rows being written here, nothing visible; a restart abandons it),
-- PUBLISHING (every row staged and checked: the import is decided and a restart finishes it),
-- DONE, ABANDONED (its staged rows are being or have been dropped).
CREATE TABLE manifest_imports (
  id              TEXT PRIMARY KEY,
  manifest_sha256 TEXT NOT NULL,
  actor           TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('STAGING', 'PUBLISHING', 'DONE', 'ABANDONED')),
  to_import       INTEGER NOT NULL DEFAULT 0 CHECK (to_import >= 0),
  staged          INTEGER NOT NULL DEFAULT 0 CHECK (staged >= 0),
  published       INTEGER NOT NULL DEFAULT 0 CHECK (published >= 0),
  summary         BLOB NOT NULL,  -- the check's ImportManifestResponse (proto), for the result
  created_us      INTEGER NOT NULL,
  updated_us      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX manifest_imports_unfinished ON manifest_imports(state)
  WHERE state IN ('STAGING', 'PUBLISHING');

-- Rows staged by an import and not yet published. A staged serial is reserved: it cannot be
-- registered by anyone else (the trigger below) nor staged by another import (UNIQUE).
CREATE TABLE manifest_import_rows (
  import_id         TEXT NOT NULL REFERENCES manifest_imports(id),
  line              INTEGER NOT NULL,
  serial            TEXT NOT NULL UNIQUE,
  model             TEXT NOT NULL,
  hardware_revision TEXT NOT NULL,
  site_id           INTEGER NOT NULL REFERENCES sites(id),
  PRIMARY KEY (import_id, line)
) WITHOUT ROWID;

CREATE TRIGGER cameras_serial_not_staged BEFORE INSERT ON cameras
WHEN EXISTS (SELECT 1 FROM manifest_import_rows WHERE serial = NEW.serial)
BEGIN
  SELECT RAISE(ABORT, 'the serial is staged by a manifest import that is still running');
END;

-- The enrollment-token list of one site, newest first, seeks instead of reading every token
-- ever made (issue 10 item 7).
CREATE INDEX enrollment_tokens_by_site ON enrollment_tokens(site_id, id);

-- List queries that stay fast at 1,000,000 cameras (issue 10 item 7, migration 0014).

-- The camera list of a region filtered by not seen since a time: each post's cameras in order of
-- when they were last seen (never seen first), with the serial that orders the page, so the list
-- reads only the region's matching index entries and not a camera row for each (the not-seen
-- cameras of the whole fleet, each read from the table, cost 15 ms at 100,000 cameras and
-- 220 ms at 1,000,000).
CREATE INDEX cameras_by_site_last_seen ON cameras(site_id, last_seen_us, serial);

-- The audit events whose time is earlier than that of an event before them in the chain: the
-- clock stepped back. While none of them falls in a time window, the window's events are in
-- time order along the chain, so the audit list finds a window's first and last event with one
-- seek each on audit_by_time and reads a page by sequence, instead of reading and sorting every
-- event of the window. Almost always empty. Filled here from the chain as it stands; then
-- AppendAudit, which alone appends to the chain (it computes the hashes), adds each late event
-- in the same transaction (it keeps the chain's latest time with its head: no read per event;
-- a trigger here cost the writer ~2 us per event).
CREATE TABLE audit_late_events (
  seq     INTEGER PRIMARY KEY,  -- audit_events.seq
  time_us INTEGER NOT NULL
);
CREATE INDEX audit_late_events_by_time ON audit_late_events(time_us);
