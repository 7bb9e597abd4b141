-- The CHECK constraints that every lifecycle write evaluates, written as equalities joined by OR
-- instead of IN lists. SQLite evaluates `col IN (three or more constants)` in a CHECK by
-- building a temporary b-tree of the list each time a statement checks it, so every change of a
-- camera's state and every insert or close of an assignment built one (about a fifth of the
-- store writer's instructions per issue or return; bench/README.md). The two forms accept
-- exactly the same values and every stored row satisfies both, so the table definitions are
-- changed in place, the way SQLite documents for changing a CHECK constraint
-- (lang_altertable.html, "making other kinds of table schema changes"): only the schema text
-- changes, nothing else on disk. replace() swaps the exact text migration 0001 wrote.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (state IN
                      (''REGISTERED'', ''AVAILABLE'', ''ISSUED'', ''LOST'', ''FAULTY'', ''RETIRED''))',
                  'CHECK (state = ''REGISTERED'' OR state = ''AVAILABLE'' OR
                      state = ''ISSUED'' OR state = ''LOST'' OR state = ''FAULTY'' OR
                      state = ''RETIRED'')')
WHERE type = 'table' AND name = 'cameras';
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (return_condition IN (''GOOD'', ''DAMAGED'', ''NOT_RETURNED''))',
                  'CHECK (return_condition = ''GOOD'' OR return_condition = ''DAMAGED'' OR
                                return_condition = ''NOT_RETURNED'')')
WHERE type = 'table' AND name = 'assignments';
-- Reloads this connection's copy of the schema.
PRAGMA writable_schema = RESET;
-- A schema change moves the schema cookie, so that other connections reload theirs too (the
-- UPDATE above does not).
CREATE TABLE migration_0013_schema_reload (x);
DROP TABLE migration_0013_schema_reload;
