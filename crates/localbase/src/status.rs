//! The status block printed on start (like `supabase status`) and
//! `<dir>/status.json`, which scripts and test helpers read.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// What a running instance tells its users.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    pub api_url: String,
    pub db_url: String,
    pub anon_key: String,
    pub service_role_key: String,
    pub publishable_key: String,
    pub secret_key: String,
    pub jwt_secret: String,
}

impl Status {
    /// Writes `<dir>/status.json`, 0600 (it holds the service key and the
    /// database password), atomically so a reader never sees half.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join("status.json");
        let staging = dir.join(".status.json.tmp");
        crate::private::write_private(&staging, &serde_json::to_string_pretty(self)?)?;
        std::fs::rename(&staging, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// Reads `<dir>/status.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Status> {
        let path = dir.join("status.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        Ok(serde_json::from_str(&text)?)
    }

    /// The block printed on start, laid out like `supabase status`.
    pub fn block(&self) -> String {
        format!(
            "localbase is running.\n\n\
             \x20        API URL: {api}\n\
             \x20       REST URL: {api}/rest/v1\n\
             \x20       Auth URL: {api}/auth/v1\n\
             \x20   Realtime URL: {ws}/realtime/v1/websocket\n\
             \x20         DB URL: {db}\n\
             \x20     JWT secret: {jwt}\n\
             \x20       anon key: {anon}\n\
             service_role key: {service}\n\
             \x20Publishable key: {publishable}\n\
             \x20     Secret key: {secret}\n",
            api = self.api_url,
            ws = self.api_url.replacen("http", "ws", 1),
            db = self.db_url,
            jwt = self.jwt_secret,
            anon = self.anon_key,
            service = self.service_role_key,
            publishable = self.publishable_key,
            secret = self.secret_key,
        )
    }
}
