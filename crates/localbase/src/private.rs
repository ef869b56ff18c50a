//! localbase's folder holds secrets (`keys.json`: the JWT secret and signing
//! key; `status.json`: the service key and the database URL with its
//! password), so it is private to whoever runs localbase: the folder 0700,
//! the files 0600. On a shared machine no other user can read them.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Creates `dir` if needed and makes it 0700. `owner`, when given, becomes
/// its owner: as root the cluster under `<dir>/db` runs as the `postgres`
/// user, which must pass through the folder (root reads it whoever owns it).
pub fn make_private_dir(dir: &Path, owner: Option<&nix::unistd::User>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some(user) = owner {
        nix::unistd::chown(dir, Some(user.uid), Some(user.gid))
            .with_context(|| format!("giving {} to the {} user", dir.display(), user.name))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", dir.display()))
}

/// Writes `path` readable and writable by its owner only (0600), also when it
/// already existed with wider permissions.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Narrows an existing file to 0600 (files written by older versions were 0644).
pub fn make_private_file(path: &Path) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", path.display()))
}
