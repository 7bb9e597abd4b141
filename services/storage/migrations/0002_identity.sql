-- Identity: certificates issued by the fleet CA (or imported from a supplier), operators, docks,
-- one-time dock enrollment tokens and trusted supplier CAs.

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
