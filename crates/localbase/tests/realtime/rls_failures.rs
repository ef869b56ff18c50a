//! RLS checks that fail: a transient failure does not drop a change (the
//! check is tried again on a fresh connection); a policy that raises hides
//! the rows from that role at once, without retries that would hold up
//! everyone else's changes.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{user_token, Fixture};

fn leads() -> Value {
    json!([{"event": "INSERT", "schema": "public", "table": "leads"}])
}

/// A restrictive policy whose first evaluation fails with SQLSTATE `code`
/// (every one, with `always`). A sequence counts the evaluations: it is not
/// rolled back with the check's transaction.
fn failing_policy(code: &str, always: bool) -> String {
    let when = if always { "nextval('public.rls_evaluations') > 0" } else { "nextval('public.rls_evaluations') = 1" };
    format!(
        "create sequence public.rls_evaluations;
         grant usage on sequence public.rls_evaluations to authenticated;
         create function public.check_fails() returns boolean
         language plpgsql volatile as $$
         begin
           if {when} then
             raise exception 'the check failed' using errcode = '{code}';
           end if;
           return true;
         end $$;
         create policy check_fails on public.leads as restrictive
           for select to authenticated using (public.check_fails());"
    )
}

async fn evaluations(fx: &Fixture) -> i64 {
    fx.sql.query_one("select last_value from public.rls_evaluations", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_transiently_failing_rls_check_is_retried_and_the_change_arrives() {
    let fx = Fixture::start().await;
    let (caller, user) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    phx.subscribe("mine", leads(), Some(&user_token(&user))).await;
    fx.sql.batch_execute(&failing_policy("40001", false)).await.unwrap();

    let lead = fx.add_lead("+919800000020", Some(caller)).await;

    let change = phx.change().await;
    assert_eq!(change.payload["data"]["record"]["id"], json!(lead));
    let evaluations = evaluations(&fx).await;
    assert!(evaluations >= 2, "the failed check was tried again ({evaluations} evaluations)");
    fx.stop().await;
}

#[tokio::test]
async fn a_policy_that_raises_hides_the_row_from_that_role_without_retries() {
    let fx = Fixture::start().await;
    let (caller, user) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    phx.subscribe("mine", leads(), Some(&user_token(&user))).await;
    let mut service = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    service.subscribe("all", leads(), None).await;
    fx.sql.batch_execute(&failing_policy("P0001", true)).await.unwrap();

    let lead = fx.add_lead("+919800000021", Some(caller)).await;

    let change = service.change().await;
    assert_eq!(change.payload["data"]["record"]["id"], json!(lead));
    phx.assert_silent(Duration::from_millis(600)).await;
    // One batched check and one on its own, as for a missing privilege; no retries.
    let evaluations = evaluations(&fx).await;
    assert!(evaluations <= 2, "a raising policy is not retried ({evaluations} evaluations)");
    fx.stop().await;
}
