-- Reports and stock checks (services/reports).

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
