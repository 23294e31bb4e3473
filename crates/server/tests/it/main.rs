//! Integration tests of passkeyd (one test binary, modules per area).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is how a helper reports a failed precondition"
)]

mod bootstrap;
mod browser_direct;
mod ceremonies;
mod cli;
mod common;
mod compat_fido;
mod compat_flashback;
mod compat_jitsudo;
mod compat_mailcheap;
mod compat_native;
mod compat_streambird;
mod doctor;
mod errors;
mod hardening;
mod hardening_ops;
mod hardening_tokens;
mod http;
mod interop;
mod mds_refresh;
mod me;
mod mfa;
mod multinode;
mod openapi;
mod peer;
mod policies;
mod portability;
mod signal;
mod tenancy;
mod verify_cli;
mod webhooks;
mod wellknown;
