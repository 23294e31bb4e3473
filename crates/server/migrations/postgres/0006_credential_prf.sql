-- Whether a credential supports the WebAuthn PRF extension, as the client reported at its
-- registration (`clientExtensionResults.prf.enabled`). Only the capability is kept: PRF
-- outputs are the app's key material and never reach the store.

ALTER TABLE credentials ADD COLUMN prf_enabled BOOLEAN NOT NULL DEFAULT FALSE;
