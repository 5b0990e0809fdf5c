-- How an upstream is authenticated. For a GitHub base repository:
-- 'public' (no credential) or 'app' (an installation token of the
-- server's GitHub App). Before this column only public GitHub
-- repositories could be created, so existing ones are public.
ALTER TABLE repos ADD COLUMN base_auth_type TEXT NOT NULL DEFAULT '';
UPDATE repos SET base_auth_type = 'public' WHERE base_provider = 'github';
