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
