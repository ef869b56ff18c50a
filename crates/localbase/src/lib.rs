//! localbase.
