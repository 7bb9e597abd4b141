-- The enrollment-token list of one site, newest first, seeks instead of reading every token
-- ever made (issue 10 item 7).
CREATE INDEX enrollment_tokens_by_site ON enrollment_tokens(site_id, id);
