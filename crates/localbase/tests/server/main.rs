//! localbase as a server: Auth, REST, where its database comes from and
//! the binary as a process. One test binary, so the shared set-up in `common` is compiled once.

mod auth;
mod binary;
mod common;
mod database;
mod rest;
