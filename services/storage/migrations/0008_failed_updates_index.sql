-- The failed-updates report (services/reports): rollout units whose last attempt failed or rolled
-- back, read in (rollout, camera) order without walking the units that went well.
CREATE INDEX rollout_units_failed ON rollout_units(rollout_id, camera_id)
  WHERE state IN ('FAILED', 'ROLLED_BACK');
