//! Domain types and normalization shared by the ingest service and the web app.
