-- Connections that assume a role, use a profile or a web identity token:
-- where their credentials come from (connection.Source as JSON; nothing
-- secret) and the role's external id, sealed like the other secrets.
ALTER TABLE connections ADD COLUMN source_json TEXT NOT NULL DEFAULT '';
ALTER TABLE connections ADD COLUMN external_id_enc BLOB;
