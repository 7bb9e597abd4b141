-- Staged firmware rollouts (proto/camfleet/v1/rollout.proto, services/rollout/README.md): a
-- rollout of one release, its target selector, install windows per site, and one row per
-- targeted camera with its own state, attempt and last error.

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
