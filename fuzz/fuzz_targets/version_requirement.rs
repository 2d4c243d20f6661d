//! Fuzzes the version requirement parser and the tag <-> version mapping of
//! `sentinel_package::versions` with arbitrary text.
//!
//! A requirement that parses must print as text that parses back to it, and
//! resolving it (`matches`, `highest`) over versions with pre-releases and
//! build metadata must never panic and must agree with itself: what
//! `highest` picks matches, nothing that matches is higher, and an exact
//! requirement resolves to its own version when it is there. A tag that
//! names a version must name it again once written back as a tag.

#![no_main]

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use semver::Version;
use sentinel_package::versions::{VersionRequirement, latest, tag_version, version_tag};

/// Versions every requirement is resolved over: releases, pre-releases and
/// build metadata around the numbers the seeds name.
const VERSIONS: &[&str] = &[
    "0.0.0",
    "0.0.1",
    "0.1.0-alpha",
    "0.9.0",
    "1.0.0-0",
    "1.0.0-alpha.1",
    "1.0.0",
    "1.0.0+build.1",
    "1.2.0",
    "1.2.3-rc.1",
    "1.2.3-rc.1+exp.sha.5114f85",
    "1.2.3",
    "1.2.5",
    "1.4.0",
    "1.4.7",
    "1.9.0",
    "2.0.0-rc.1",
    "2.0.0",
    "2.1.0-beta.1",
    "10.20.30",
    "18446744073709551615.0.0",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_tag(text);
    let Ok(requirement) = text.parse::<VersionRequirement>() else {
        return;
    };
    let printed = requirement.to_string();
    let again: VersionRequirement = printed
        .parse()
        .unwrap_or_else(|e| panic!("{printed:?}, printed from {text:?}, does not parse: {e}"));
    assert_eq!(again, requirement, "{text:?} does not survive printing");
    check_resolution(text, &requirement);
});

/// `tag_version` never panics, and a version it finds survives the way back.
fn check_tag(text: &str) {
    if let Some(version) = tag_version(text) {
        let tag = version_tag(&version);
        assert_eq!(
            tag_version(&tag),
            Some(version),
            "tag {tag:?} (from {text:?}) does not name its version again"
        );
    }
}

/// Resolves `requirement` over [`VERSIONS`] and versions taken from `text`.
fn check_resolution(text: &str, requirement: &VersionRequirement) {
    let mut versions: Vec<Version> = VERSIONS
        .iter()
        .map(|v| Version::parse(v).expect("a valid version"))
        .collect();
    versions.extend(
        text.split([',', ' ', '<', '>', '=', '^', '~'])
            .filter_map(|part| Version::parse(part).ok()),
    );
    let exact = requirement.exact();
    if let Some(exact) = &exact {
        versions.push(exact.clone());
        let mut built = exact.clone();
        built.build = semver::BuildMetadata::new("fuzz.1").expect("valid build metadata");
        versions.push(built);
    }
    for prerelease in [false, true] {
        let matching: Vec<&Version> = versions
            .iter()
            .filter(|v| requirement.matches(v, prerelease))
            .collect();
        if !prerelease {
            for v in &matching {
                assert!(
                    requirement.matches(v, true),
                    "{text:?} matches {v} without pre-releases but not with them"
                );
            }
        }
        let highest = requirement.highest(&versions, prerelease, |_| false);
        match highest {
            Some(h) => {
                assert!(
                    requirement.matches(h, prerelease),
                    "{text:?} resolves to {h}, which it does not match"
                );
                for v in &matching {
                    assert_ne!(
                        v.cmp_precedence(h),
                        Ordering::Greater,
                        "{text:?} resolves to {h} although {v} matches"
                    );
                }
            }
            None => assert!(
                matching.is_empty(),
                "{text:?} resolves to nothing although {} match",
                matching.len()
            ),
        }
        // Passing over every version leaves only the one named exactly.
        let skipped = requirement.highest(&versions, prerelease, |_| true);
        if let Some(s) = skipped {
            assert!(requirement.matches(s, prerelease));
            let named = exact.as_ref().is_some_and(|e| e.cmp_precedence(s).is_eq());
            assert!(named, "{text:?} resolves to {s}, which was to be skipped");
        }
        if let Some(exact) = &exact {
            assert!(
                requirement.matches(exact, prerelease),
                "{text:?} does not match {exact}, the version it names"
            );
            let resolved = skipped.unwrap_or_else(|| {
                panic!("{text:?} names {exact}, which is listed, but resolves to nothing")
            });
            assert!(
                resolved.cmp_precedence(exact).is_eq(),
                "{text:?} names {exact} but resolves to {resolved}"
            );
        }
    }
    if let Some(l) = latest(&versions, |_| false) {
        assert!(l.pre.is_empty(), "latest is the pre-release {l}");
    }
}
