-- `camfleet cert list --subject CN` and `--relayed-by DOCK` (issue 11, item 3): the certificates
-- of one subject, or that one dock relayed, newest first, read from an index instead of the
-- whole table (every certificate ever issued, renewals included).
CREATE INDEX certificates_by_subject ON certificates(subject, id);
CREATE INDEX certificates_by_issuer ON certificates(issued_by, id);
