//! A transient failure of an RLS check does not drop a change: the check is
//! retried on a fresh connection.

use serde_json::{json, Value};

use crate::support::{user_token, Fixture};

fn leads() -> Value {
    json!([{"event": "INSERT", "schema": "public", "table": "leads"}])
}

/// A restrictive policy whose first evaluation fails with a serialization
/// failure (40001), as a transient error would. A sequence counts the
/// evaluations: it is not rolled back with the check's transaction.
const FLAKY_POLICY: &str = "
    create sequence public.rls_evaluations;
    grant usage on sequence public.rls_evaluations to authenticated;
    create function public.fails_the_first_time() returns boolean
    language plpgsql volatile as $$
    begin
      if nextval('public.rls_evaluations') = 1 then
        raise exception 'could not serialize access' using errcode = '40001';
      end if;
      return true;
    end $$;
    create policy first_check_fails on public.leads as restrictive
      for select to authenticated using (public.fails_the_first_time());";

#[tokio::test]
async fn a_transiently_failing_rls_check_is_retried_and_the_change_arrives() {
    let fx = Fixture::start().await;
    let (caller, user) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    phx.subscribe("mine", leads(), Some(&user_token(&user))).await;
    fx.sql.batch_execute(FLAKY_POLICY).await.unwrap();

    let lead = fx.add_lead("+919800000020", Some(caller)).await;

    let change = phx.change().await;
    assert_eq!(change.payload["data"]["record"]["id"], json!(lead));
    let evaluations: i64 =
        fx.sql.query_one("select last_value from public.rls_evaluations", &[]).await.unwrap().get(0);
    assert!(evaluations >= 2, "the failed check was tried again ({evaluations} evaluations)");
    fx.stop().await;
}
