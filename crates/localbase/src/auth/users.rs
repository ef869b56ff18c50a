//! Users in `auth.users`: reading, creating, changing and deleting them, and
//! their JSON shape as GoTrue answers it.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgPool, Row};
use uuid::Uuid;

use super::error::AuthError;

/// GoTrue's minimum password length.
pub const MIN_PASSWORD_LEN: usize = 6;
/// bcrypt cost GoTrue uses.
const BCRYPT_COST: u32 = 10;

const COLUMNS: &str = "id, coalesce(aud, 'authenticated') as aud, coalesce(role, 'authenticated') as role, \
    email::text as email, encrypted_password::text as encrypted_password, email_confirmed_at, \
    coalesce(phone::text, '') as phone, phone_confirmed_at, last_sign_in_at, \
    coalesce(raw_app_meta_data, '{}'::jsonb) as app_metadata, \
    coalesce(raw_user_meta_data, '{}'::jsonb) as user_metadata, banned_until, \
    coalesce(is_anonymous, false) as is_anonymous, created_at, updated_at, \
    nullif(email_change, '') as email_change, email_change_sent_at";

/// A row of `auth.users`.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub aud: String,
    pub role: String,
    pub email: Option<String>,
    pub encrypted_password: Option<String>,
    pub email_confirmed_at: Option<DateTime<Utc>>,
    pub phone: String,
    pub phone_confirmed_at: Option<DateTime<Utc>>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub app_metadata: Value,
    pub user_metadata: Value,
    pub banned_until: Option<DateTime<Utc>>,
    pub is_anonymous: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// An address the user asked to change to, not yet confirmed.
    pub email_change: Option<String>,
    pub email_change_sent_at: Option<DateTime<Utc>>,
}

impl User {
    fn from_row(row: &PgRow) -> Result<User, sqlx::Error> {
        Ok(User {
            id: row.try_get("id")?,
            aud: row.try_get("aud")?,
            role: row.try_get("role")?,
            email: row.try_get("email")?,
            encrypted_password: row.try_get("encrypted_password")?,
            email_confirmed_at: row.try_get("email_confirmed_at")?,
            phone: row.try_get("phone")?,
            phone_confirmed_at: row.try_get("phone_confirmed_at")?,
            last_sign_in_at: row.try_get("last_sign_in_at")?,
            app_metadata: row.try_get("app_metadata")?,
            user_metadata: row.try_get("user_metadata")?,
            banned_until: row.try_get("banned_until")?,
            is_anonymous: row.try_get("is_anonymous")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            email_change: row.try_get("email_change")?,
            email_change_sent_at: row.try_get("email_change_sent_at")?,
        })
    }

    /// Whether the user is banned right now.
    pub fn is_banned(&self) -> bool {
        self.banned_until.is_some_and(|until| until > Utc::now())
    }

    /// The user object GoTrue returns.
    pub fn to_json(&self) -> Value {
        let confirmed_at = self.email_confirmed_at.or(self.phone_confirmed_at);
        let mut user = json!({
            "id": self.id,
            "aud": self.aud,
            "role": self.role,
            "email": self.email.clone().unwrap_or_default(),
            "email_confirmed_at": self.email_confirmed_at,
            "phone": self.phone,
            "phone_confirmed_at": self.phone_confirmed_at,
            "confirmed_at": confirmed_at,
            "last_sign_in_at": self.last_sign_in_at,
            "app_metadata": self.app_metadata,
            "user_metadata": self.user_metadata,
            "identities": [],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "is_anonymous": self.is_anonymous,
        });
        if let Some(obj) = user.as_object_mut() {
            if let Some(until) = self.banned_until {
                obj.insert("banned_until".into(), json!(until));
            }
            if let Some(new_email) = &self.email_change {
                obj.insert("new_email".into(), json!(new_email));
                obj.insert("email_change_sent_at".into(), json!(self.email_change_sent_at));
            }
        }
        user
    }
}

pub async fn by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, AuthError> {
    let sql = format!("select {COLUMNS} from auth.users where id = $1 and deleted_at is null");
    let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
    Ok(row.as_ref().map(User::from_row).transpose()?)
}

pub async fn by_email(pool: &PgPool, email: &str) -> Result<Option<User>, AuthError> {
    let sql = format!(
        "select {COLUMNS} from auth.users where lower(email) = lower($1) and deleted_at is null \
         order by created_at limit 1"
    );
    let row = sqlx::query(AssertSqlSafe(sql)).bind(email).fetch_optional(pool).await?;
    Ok(row.as_ref().map(User::from_row).transpose()?)
}

pub async fn by_phone(pool: &PgPool, phone: &str) -> Result<Option<User>, AuthError> {
    let sql = format!(
        "select {COLUMNS} from auth.users where phone::text = $1 and deleted_at is null limit 1"
    );
    let row = sqlx::query(AssertSqlSafe(sql)).bind(phone.trim_start_matches('+')).fetch_optional(pool).await?;
    Ok(row.as_ref().map(User::from_row).transpose()?)
}

/// A page of users, newest first, and how many there are in all.
pub async fn list(pool: &PgPool, page: i64, per_page: i64) -> Result<(Vec<User>, i64), AuthError> {
    let sql = format!(
        "select {COLUMNS} from auth.users where deleted_at is null \
         order by created_at desc nulls last, id limit $1 offset $2"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(per_page)
        .bind(page.saturating_sub(1).saturating_mul(per_page))
        .fetch_all(pool)
        .await?;
    let total: i64 = sqlx::query_scalar("select count(*) from auth.users where deleted_at is null")
        .fetch_one(pool)
        .await?;
    let users = rows.iter().map(User::from_row).collect::<Result<Vec<_>, _>>()?;
    Ok((users, total))
}

/// What a new user starts with.
#[derive(Debug, Default)]
pub struct NewUser {
    pub id: Option<Uuid>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    pub email_confirmed: bool,
    pub phone_confirmed: bool,
    pub user_metadata: Option<Map<String, Value>>,
    pub app_metadata: Option<Map<String, Value>>,
    pub role: Option<String>,
    pub banned_until: Option<DateTime<Utc>>,
}

/// Checks an email address the way GoTrue does before storing it.
pub fn check_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim();
    let valid = email.len() <= 255
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !email.contains(' ')
        });
    if !valid {
        return Err(AuthError::validation("Unable to validate email address: invalid format"));
    }
    Ok(email.to_lowercase())
}

pub fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::weak_password());
    }
    if password.len() > 72 {
        return Err(AuthError::validation("Password cannot be longer than 72 characters"));
    }
    Ok(())
}

/// bcrypt, off the async threads.
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, BCRYPT_COST))
        .await
        .map_err(AuthError::internal)?
        .map_err(AuthError::internal)
}

/// Whether `password` is `user`'s; false for an unknown user or one without
/// a password. Those cases check the password against a dummy hash of the
/// same cost, so the answer takes as long as for a wrong password and its
/// timing does not tell which emails have accounts.
pub async fn password_matches(user: Option<&User>, password: String) -> bool {
    let stored = user.and_then(|u| u.encrypted_password.clone()).filter(|h| !h.is_empty());
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy_hash().to_owned());
        bcrypt::verify(password, &hash).unwrap_or(false) && known
    })
    .await
    .unwrap_or(false)
}

/// A bcrypt hash of [`BCRYPT_COST`] that no password given to sign in is
/// checked against for real; made once.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        bcrypt::hash(crate::keys::random_string(24), BCRYPT_COST).unwrap_or_else(|e| {
            tracing::error!("auth: making the dummy password hash failed: {e}");
            String::new()
        })
    })
}

pub async fn create(pool: &PgPool, new: NewUser) -> Result<User, AuthError> {
    if let Some(email) = &new.email {
        if by_email(pool, email).await?.is_some() {
            return Err(AuthError::email_exists());
        }
    }
    if let Some(phone) = &new.phone {
        if by_phone(pool, phone).await?.is_some() {
            return Err(AuthError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "phone_exists",
                "A user with this phone number has already been registered",
            ));
        }
    }
    let hash = match new.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let providers: Vec<&str> = [new.email.as_ref().map(|_| "email"), new.phone.as_ref().map(|_| "phone")]
        .into_iter()
        .flatten()
        .collect();
    let mut app_metadata = Map::new();
    app_metadata.insert("provider".into(), json!(providers.first().copied().unwrap_or("email")));
    app_metadata.insert("providers".into(), json!(providers));
    if let Some(extra) = new.app_metadata {
        app_metadata.extend(extra);
    }
    let id = new.id.unwrap_or_else(Uuid::new_v4);
    let sql = format!(
        "insert into auth.users (instance_id, id, aud, role, email, phone, encrypted_password, \
            email_confirmed_at, phone_confirmed_at, raw_app_meta_data, raw_user_meta_data, \
            banned_until, is_anonymous, created_at, updated_at) \
         values ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', $2, $3, $4, $5, \
            case when $6 then now() end, case when $7 then now() end, $8, $9, $10, false, now(), now()) \
         returning {COLUMNS}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(new.role.unwrap_or_else(|| "authenticated".into()))
        .bind(new.email)
        .bind(new.phone.map(|p| p.trim_start_matches('+').to_string()))
        .bind(hash)
        .bind(new.email_confirmed)
        .bind(new.phone_confirmed)
        .bind(Value::Object(app_metadata))
        .bind(Value::Object(new.user_metadata.unwrap_or_default()))
        .bind(new.banned_until)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
                AuthError::email_exists()
            }
            _ => AuthError::from(e),
        })?;
    Ok(User::from_row(&row)?)
}

/// A change to a user; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct UserChange {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<String>,
    pub email_confirmed: Option<bool>,
    pub phone_confirmed: Option<bool>,
    /// Merged key by key; a key set to `null` is removed, as GoTrue does.
    pub user_metadata: Option<Map<String, Value>>,
    pub app_metadata: Option<Map<String, Value>>,
    pub role: Option<String>,
    /// `Some(None)` lifts a ban.
    pub banned_until: Option<Option<DateTime<Utc>>>,
}

pub async fn update(pool: &PgPool, user: &User, change: UserChange) -> Result<User, AuthError> {
    if let Some(email) = &change.email {
        if let Some(other) = by_email(pool, email).await? {
            if other.id != user.id {
                return Err(AuthError::email_exists());
            }
        }
    }
    let hash = match change.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let merge = |current: &Value, patch: Option<Map<String, Value>>| -> Option<Value> {
        let patch = patch?;
        let mut merged = current.as_object().cloned().unwrap_or_default();
        for (k, v) in patch {
            if v.is_null() {
                merged.remove(&k);
            } else {
                merged.insert(k, v);
            }
        }
        Some(Value::Object(merged))
    };
    let user_metadata = merge(&user.user_metadata, change.user_metadata);
    let app_metadata = merge(&user.app_metadata, change.app_metadata);
    let sql = format!(
        "update auth.users set \
            email = coalesce($2, email), \
            phone = coalesce($3, phone), \
            encrypted_password = coalesce($4, encrypted_password), \
            email_confirmed_at = case when $5 is null then email_confirmed_at when $5 then coalesce(email_confirmed_at, now()) end, \
            phone_confirmed_at = case when $6 is null then phone_confirmed_at when $6 then coalesce(phone_confirmed_at, now()) end, \
            raw_user_meta_data = coalesce($7, raw_user_meta_data), \
            raw_app_meta_data = coalesce($8, raw_app_meta_data), \
            role = coalesce($9, role), \
            banned_until = case when $10 then $11 else banned_until end, \
            updated_at = now() \
         where id = $1 returning {COLUMNS}"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(user.id)
        .bind(change.email)
        .bind(change.phone.map(|p| p.trim_start_matches('+').to_string()))
        .bind(hash)
        .bind(change.email_confirmed)
        .bind(change.phone_confirmed)
        .bind(user_metadata)
        .bind(app_metadata)
        .bind(change.role)
        .bind(change.banned_until.is_some())
        .bind(change.banned_until.flatten())
        .fetch_one(pool)
        .await?;
    Ok(User::from_row(&row)?)
}

pub async fn delete(pool: &PgPool, id: Uuid, soft: bool) -> Result<bool, AuthError> {
    let done = if soft {
        sqlx::query(
            "update auth.users set deleted_at = now(), email = null, phone = null, \
             encrypted_password = null where id = $1 and deleted_at is null",
        )
        .bind(id)
        .execute(pool)
        .await?
    } else {
        sqlx::query("delete from auth.users where id = $1").bind(id).execute(pool).await?
    };
    if soft {
        super::sessions::revoke_sessions(pool, id).await?;
    }
    Ok(done.rows_affected() > 0)
}

pub async fn touch_sign_in(pool: &PgPool, id: Uuid) -> Result<(), AuthError> {
    sqlx::query("update auth.users set last_sign_in_at = now() where id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
