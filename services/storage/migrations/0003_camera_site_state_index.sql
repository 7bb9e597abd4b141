-- Listing one post's cameras in a given state, in serial order, without a sort.
CREATE INDEX cameras_by_site_state ON cameras(site_id, state, serial);
