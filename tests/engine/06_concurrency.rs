//! Concurrency: placeholder, filled below.
