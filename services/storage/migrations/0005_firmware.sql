-- Signed firmware (proto/camfleet/v1/firmware.proto): the public keys releases are checked
-- with, the releases' metadata, and the deltas kept between releases. The images and deltas
-- themselves live in the content-addressed store on disk (services/firmware/image_store.h),
-- named by their SHA-256; rows here point at them by digest.

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
