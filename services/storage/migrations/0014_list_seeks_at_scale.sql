-- List queries that stay fast at 1,000,000 cameras (issue 10 item 7).

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
INSERT INTO audit_late_events (seq, time_us)
SELECT seq, time_us FROM (
  SELECT seq, time_us,
         max(time_us) OVER (ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS latest
  FROM audit_events)
WHERE time_us < latest;
