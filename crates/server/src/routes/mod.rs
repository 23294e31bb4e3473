//! The HTTP routes, one file per resource.

pub mod demo;
pub mod health;
pub mod tenants;
