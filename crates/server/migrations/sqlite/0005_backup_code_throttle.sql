-- Wrong backup codes are throttled per user with growing delays that expire, instead of a lock
-- that needs an operator: `failed_attempts` now counts consecutive wrong backup codes only
-- (failed passkey ceremonies never count against a user), and this is when the last one came.

ALTER TABLE users ADD COLUMN last_failed_at INTEGER;   -- Unix seconds; NULL: no failure yet
-- Earlier counts included failed passkey ceremonies, which no longer count: start afresh.
UPDATE users SET failed_attempts = 0;
