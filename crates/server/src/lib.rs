//! passkeyd: a self-hosted passkey (WebAuthn) authentication server.
//!
//! The verification itself lives in the sans-IO crate `passkeyd-webauthn`; this crate is the
//! command line and (with the server issue) the HTTP service around it.

#![forbid(unsafe_code)]

pub mod cli;
