//! Reward rule versions on both backends: concurrent sets each get their own version, the
//! highest is in force, and sections for another program type are refused.

use std::collections::BTreeSet;

use referd_core::CoreError;
use referd_core::ids::ProgramType;
use referd_core::service::rules;
use referd_core::time::{Clock, SystemClock};
use serde_json::json;

use crate::helpers::TestApp;

async fn concurrent_sets_get_distinct_versions(app: TestApp) {
    let (program, _) = app.other_program(ProgramType::Affiliate).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let store = app.store.clone();
        let program = program.clone();
        tasks.spawn(async move {
            let body = json!({"affiliate": {"commission": {"type": "static", "value": i + 1}}});
            rules::set(&*store, &program, &body, SystemClock.now())
                .await
                .unwrap()
                .0
                .version
        });
    }
    let mut versions = BTreeSet::new();
    while let Some(v) = tasks.join_next().await {
        versions.insert(v.unwrap());
    }
    assert_eq!(versions, (1..=12).collect());
    let (current, _) = rules::current(&*app.store, &program)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.version, 12);
    // Another program's rules are its own.
    assert!(
        rules::current(&*app.store, &app.program)
            .await
            .unwrap()
            .is_none()
    );
}

async fn sections_must_fit_the_program_type(app: TestApp) {
    // `app.program` is a refer-a-friend program.
    let err = rules::set(
        &*app.store,
        &app.program,
        &json!({"affiliate": {"commission": {"type": "static", "value": 1}}}),
        SystemClock.now(),
    )
    .await
    .unwrap_err();
    let CoreError::Validation(errors) = err else {
        panic!("expected a validation error, got {err:?}");
    };
    assert!(errors.iter().any(|(f, _)| f == "affiliate"));
    let (v, set) = rules::set(
        &*app.store,
        &app.program,
        &json!({"referral": {"referring": [{"kind": "credit", "trigger": "purchase",
                                             "amount": {"type": "static", "value": "10.50"}}]}}),
        SystemClock.now(),
    )
    .await
    .unwrap();
    assert_eq!(v.version, 1);
    assert_eq!(set.referral.unwrap().referring.len(), 1);
    let (stored, _) = rules::current(&*app.store, &app.program)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.body.contains("10.50"), "{}", stored.body);
}

crate::backend_tests!(
    concurrent_sets_get_distinct_versions,
    sections_must_fit_the_program_type
);
