-- List queries that seek instead of reading whole tables (issue 10 item 7).
-- The alert list filtered by kind, newest first.
CREATE INDEX alerts_by_kind ON alerts(kind, id);
-- The conflict list of open conflicts, newest first.
CREATE INDEX conflicts_open ON conflicts(id) WHERE resolved_us IS NULL;
