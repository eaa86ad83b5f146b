-- What the history keeps of a value is cut short (long text, long lists,
-- a file's data): a resumed run does not reuse an output that was, and a
-- retry does not run with inputs that were.
ALTER TABLE run_events ADD COLUMN output_cut BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE runs ADD COLUMN inputs_cut BOOLEAN NOT NULL DEFAULT FALSE;
