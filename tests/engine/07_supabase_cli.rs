//! The real Supabase CLI: placeholder, filled below.
