-- The schema that all migrations in this folder together produce, kept readable. A test
-- (tests/agent/store_schema_test.cc) checks that applying every migration to an empty file
-- gives exactly this schema. Change it together with a new migration, never alone.

-- The dock's outbox (agent/outbox_store.h): what the dock must tell the control plane, in two
-- ordered lanes, each numbered from 1 without gaps within the epoch of this database.
-- Times are microseconds since the Unix epoch, UTC, on the dock's clock.

-- One row: the epoch, made with the database so that a rebuilt database (a new file) always
-- starts a new epoch and never reuses sequence numbers the server has seen. 128 random bits.
CREATE TABLE outbox_epoch (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  epoch TEXT NOT NULL CHECK (length(epoch) BETWEEN 16 AND 64 AND epoch NOT GLOB '*[^0-9a-f]*')
);

-- Per lane (1 custody, 2 telemetry): the last sequence assigned (kept here, not derived from
-- the items, because pruning may empty the lane and numbers must never restart), how far the
-- server has acknowledged, how far items were pruned (every sequence in
-- (pruned_through, last_sequence] is covered by exactly one item row), and totals kept by the
-- triggers below so the bounds are checked without scanning the items.
CREATE TABLE outbox_lane (
  lane            INTEGER PRIMARY KEY CHECK (lane IN (1, 2)),
  last_sequence   INTEGER NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
  acked_through   INTEGER NOT NULL DEFAULT 0 CHECK (acked_through BETWEEN 0 AND last_sequence),
  pruned_through  INTEGER NOT NULL DEFAULT 0 CHECK (pruned_through BETWEEN 0 AND acked_through),
  item_count      INTEGER NOT NULL DEFAULT 0 CHECK (item_count >= 0),
  item_bytes      INTEGER NOT NULL DEFAULT 0 CHECK (item_bytes >= 0),
  unacked_count   INTEGER NOT NULL DEFAULT 0 CHECK (unacked_count BETWEEN 0 AND item_count),
  unacked_bytes   INTEGER NOT NULL DEFAULT 0 CHECK (unacked_bytes BETWEEN 0 AND item_bytes),
  readings_thinned INTEGER NOT NULL DEFAULT 0 CHECK (readings_thinned >= 0)
);

-- One row per item: the serialized camfleet.v1.OutboxItem (lane and sequence included) and
-- what the store needs without parsing it. A row with thinned_through set is a ThinnedRange
-- stub covering sequence..thinned_through. serial, reading_us and keep describe a telemetry
-- reading, for thinning. acked_us is set when the server acknowledged the item.
CREATE TABLE outbox_item (
  lane            INTEGER NOT NULL REFERENCES outbox_lane(lane),
  sequence        INTEGER NOT NULL CHECK (sequence >= 1),
  thinned_through INTEGER CHECK (thinned_through >= sequence),
  record_us       INTEGER NOT NULL,
  size_bytes      INTEGER NOT NULL,
  payload         BLOB NOT NULL,
  serial          TEXT,
  reading_us      INTEGER,
  keep            INTEGER NOT NULL DEFAULT 0 CHECK (keep IN (0, 1)),
  acked_us        INTEGER,
  PRIMARY KEY (lane, sequence),
  CHECK (size_bytes = length(payload)),
  -- A telemetry reading says whose it is and when, so thinning can group it.
  CHECK (lane = 1 OR thinned_through IS NOT NULL OR (serial IS NOT NULL AND reading_us IS NOT NULL))
) WITHOUT ROWID;
-- What to send next; and what to prune, oldest acknowledgement first.
CREATE INDEX outbox_item_unacked ON outbox_item (lane, sequence) WHERE acked_us IS NULL;
CREATE INDEX outbox_item_acked ON outbox_item (acked_us) WHERE acked_us IS NOT NULL;

CREATE TRIGGER outbox_item_counted_in AFTER INSERT ON outbox_item BEGIN
  UPDATE outbox_lane SET
    item_count = item_count + 1,
    item_bytes = item_bytes + NEW.size_bytes,
    unacked_count = unacked_count + (NEW.acked_us IS NULL),
    unacked_bytes = unacked_bytes + (CASE WHEN NEW.acked_us IS NULL THEN NEW.size_bytes ELSE 0 END)
  WHERE lane = NEW.lane;
END;

CREATE TRIGGER outbox_item_counted_out AFTER DELETE ON outbox_item BEGIN
  UPDATE outbox_lane SET
    item_count = item_count - 1,
    item_bytes = item_bytes - OLD.size_bytes,
    unacked_count = unacked_count - (OLD.acked_us IS NULL),
    unacked_bytes = unacked_bytes - (CASE WHEN OLD.acked_us IS NULL THEN OLD.size_bytes ELSE 0 END)
  WHERE lane = OLD.lane;
END;

CREATE TRIGGER outbox_item_recounted AFTER UPDATE OF size_bytes, acked_us ON outbox_item BEGIN
  UPDATE outbox_lane SET
    item_bytes = item_bytes - OLD.size_bytes + NEW.size_bytes,
    unacked_count = unacked_count - (OLD.acked_us IS NULL) + (NEW.acked_us IS NULL),
    unacked_bytes = unacked_bytes
        - (CASE WHEN OLD.acked_us IS NULL THEN OLD.size_bytes ELSE 0 END)
        + (CASE WHEN NEW.acked_us IS NULL THEN NEW.size_bytes ELSE 0 END)
  WHERE lane = NEW.lane;
END;

-- Firmware at the dock (agent/firmware_installer.h). In the outbox's file because a job's
-- outcome and its FirmwareProgress item must be stored in one transaction: a crash between
-- them would report an install twice or never.

-- One row: the latest FirmwarePlan the control plane sent (serialized camfleet.v1.FirmwarePlan),
-- kept so the dock goes on installing from its cache while the link is down. plan_us is the
-- plan's own time; an older plan never replaces a newer one.
CREATE TABLE firmware_plan (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  plan_us  INTEGER NOT NULL,
  plan     BLOB NOT NULL
);

-- Every FirmwareProgress step the dock has put in the outbox, once per (rollout, serial,
-- attempt, state): a step already here is never appended again, also after a restart mid-install.
-- state is camfleet.v1.FirmwareInstallState; sequence is the custody item's.
CREATE TABLE firmware_report (
  rollout_id  TEXT NOT NULL,
  serial      TEXT NOT NULL,
  attempt     INTEGER NOT NULL CHECK (attempt >= 0),
  state       INTEGER NOT NULL CHECK (state BETWEEN 1 AND 5),
  sequence    INTEGER NOT NULL,
  PRIMARY KEY (rollout_id, serial, attempt, state)
) WITHOUT ROWID;
