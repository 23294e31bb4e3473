//! The use cases, one module per family: every rule, every policy call and every audit event of
//! the HTTP API lives here. Routes, `/me` and the compatibility dialects translate HTTP shapes
//! to a call of these functions and the answer back; none of them names the store.
//!
//! Imports point one way: `routes` and `auth` -> `service` -> the store, the ceremonies, the
//! policies and the token keys; nothing here imports a route. The domain types the routes show
//! reach them through the re-exports below.
//!
//! - `callers`: who is calling: an API key presented, a user token presented.

pub mod callers;

pub use crate::store::{AuditEvent, Credential, RegistrationToken, Tenant, User};
pub use callers::{Caller, UserCaller};
