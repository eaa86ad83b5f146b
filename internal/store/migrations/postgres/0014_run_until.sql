-- A run of the steps up to one step only ("run up to here", the Studio's
-- editor): the history says where it stopped on purpose.
ALTER TABLE runs ADD COLUMN until_step TEXT NOT NULL DEFAULT '';
