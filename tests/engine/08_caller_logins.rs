//! A caller created with a login email gets that login and the caller
//! workspace, in whichever order the two are made.

#![allow(clippy::unwrap_used)]

use crate::support::Db;

/// A login whose email is confirmed: only those are linked (an unconfirmed
/// one is tested in 11_security.rs).
fn create_login(db: &mut Db, email: &str) -> String {
    db.client
        .query_one("insert into auth.users (email, email_confirmed_at) values ($1, now()) returning id::text", &[&email])
        .unwrap()
        .get(0)
}

fn create_caller(db: &mut Db, name: &str, email: &str) -> i64 {
    db.client
        .query_one("insert into callers (name, email) values ($1, $2) returning id", &[&name, &email])
        .unwrap()
        .get(0)
}

fn linked_user(db: &mut Db, caller_id: i64) -> Option<String> {
    db.client
        .query_one("select user_id::text from callers where id = $1", &[&caller_id])
        .unwrap()
        .get(0)
}

fn membership(db: &mut Db, user_id: &str) -> Option<(String, Option<i64>)> {
    db.client
        .query_opt("select role, caller_id from team_members where user_id = $1::text::uuid", &[&user_id])
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

#[test]
fn a_caller_created_with_an_existing_logins_email_is_linked_and_becomes_a_caller_member() {
    let mut db = Db::new();
    let user = create_login(&mut db, "priya@example.com");
    let caller = create_caller(&mut db, "Priya", " Priya@Example.com ");
    assert_eq!(linked_user(&mut db, caller), Some(user.clone()));
    assert_eq!(membership(&mut db, &user), Some(("caller".to_string(), Some(caller))));
}

#[test]
fn a_login_created_after_its_caller_is_linked_to_that_caller() {
    let mut db = Db::new();
    let caller = create_caller(&mut db, "Arjun", "arjun@example.com");
    assert_eq!(linked_user(&mut db, caller), None);
    let user = create_login(&mut db, "arjun@example.com");
    assert_eq!(linked_user(&mut db, caller), Some(user.clone()));
    assert_eq!(membership(&mut db, &user), Some(("caller".to_string(), Some(caller))));
}

#[test]
fn editing_a_callers_email_to_a_logins_email_links_it() {
    let mut db = Db::new();
    let user = create_login(&mut db, "kavya@example.com");
    let caller = create_caller(&mut db, "Kavya", "old@example.com");
    db.client.execute("update callers set email = 'kavya@example.com' where id = $1", &[&caller]).unwrap();
    assert_eq!(linked_user(&mut db, caller), Some(user.clone()));
    assert_eq!(membership(&mut db, &user), Some(("caller".to_string(), Some(caller))));
}

#[test]
fn an_admins_login_stays_an_admin_when_a_caller_takes_its_email() {
    let mut db = Db::new();
    let admin = db.add_member("boss@example.com", "admin", None);
    db.client.execute("update auth.users set email_confirmed_at = now() where id = $1::text::uuid", &[&admin]).unwrap();
    let caller = create_caller(&mut db, "Boss", "boss@example.com");
    assert_eq!(linked_user(&mut db, caller), Some(admin.clone()));
    assert_eq!(membership(&mut db, &admin), Some(("admin".to_string(), None)));
}

#[test]
fn a_login_already_linked_to_one_caller_is_not_linked_to_a_second() {
    let mut db = Db::new();
    let user = create_login(&mut db, "rohit@example.com");
    let first = create_caller(&mut db, "Rohit", "rohit@example.com");
    let second = create_caller(&mut db, "Rohit again", "rohit@example.com");
    assert_eq!(linked_user(&mut db, first), Some(user.clone()));
    assert_eq!(linked_user(&mut db, second), None);
    assert_eq!(membership(&mut db, &user), Some(("caller".to_string(), Some(first))));
}

#[test]
fn a_caller_written_with_its_user_id_is_left_as_written() {
    let mut db = Db::new();
    let user = create_login(&mut db, "imran@example.com");
    let caller: i64 = db
        .client
        .query_one(
            "insert into callers (name, email, user_id) values ('Imran', 'imran@example.com', $1::text::uuid) returning id",
            &[&user],
        )
        .unwrap()
        .get(0);
    assert_eq!(linked_user(&mut db, caller), Some(user.clone()));
    assert_eq!(membership(&mut db, &user), None, "the writer adds the membership itself");
}
