-- Big manifest imports (services/fleet/manifest_import.h) staged in the database itself, so that
-- a restart can finish an import whose publishing had begun, or drop one that had not.
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
