//! localbase as a server: Auth, REST, where its database comes from, the
//! binary as a process, and what it keeps private on a shared machine. One
//! test binary, so the shared set-up in `common` is compiled once.

mod auth;
mod binary;
mod common;
mod database;
mod rest;
mod shared_machine;
