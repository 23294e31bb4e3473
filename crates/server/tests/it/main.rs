//! Integration tests of the `passkeyd` binary (one test binary, modules per area).

mod verify_cli;
