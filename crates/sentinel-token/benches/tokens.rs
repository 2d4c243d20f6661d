//! Issuing and verifying access tokens.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sentinel_token::{AccessEntry, Actions, SigningKey, TokenAuthority};

fn authority() -> TokenAuthority {
    TokenAuthority::new(
        SigningKey::generate(),
        "sentinel".to_owned(),
        "registry".to_owned(),
        Duration::from_secs(300),
        Duration::from_secs(3600),
    )
}

fn access() -> Vec<AccessEntry> {
    vec![AccessEntry::new(
        "repository",
        "alice/app",
        Actions::PULL_PUSH,
    )]
}

fn issue_and_verify(c: &mut Criterion) {
    let authority = authority();
    c.bench_function("issue_access", |b| {
        b.iter(|| authority.issue_access("alice", access(), None, Some(1)))
    });
    c.bench_function("verify_access cold", |b| {
        b.iter_batched(
            || {
                authority
                    .issue_access("alice", access(), None, Some(1))
                    .map(|issued| issued.token)
            },
            |token| token.map(|token| black_box(authority.verify_access(&token).is_ok())),
            BatchSize::SmallInput,
        )
    });
    let cached = authority.issue_access("alice", access(), None, Some(1));
    if let Ok(issued) = cached {
        c.bench_function("verify_access cached", |b| {
            b.iter(|| authority.verify_access(black_box(&issued.token)))
        });
    }
}

criterion_group!(benches, issue_and_verify);
criterion_main!(benches);
