-- Per-connection request and transfer settings (0: s3flow's default).
ALTER TABLE connections ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN part_size_mib INTEGER NOT NULL DEFAULT 0;
ALTER TABLE connections ADD COLUMN parallel_parts INTEGER NOT NULL DEFAULT 0;
