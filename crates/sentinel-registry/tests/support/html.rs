//! Reading the web UI's pages in tests: the parts of a page the tests
//! look at, found by the ids and classes the templates give them.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

/// The text between `<ul ... id="{id}"...>` and its `</ul>`.
pub fn list<'a>(body: &'a str, id: &str) -> &'a str {
    let start = body
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id} in {body}"));
    let end = body[start..]
        .find("</ul>")
        .map_or(body.len(), |at| start + at);
    &body[start..end]
}

/// The repositories of the cards in `#results`, in order.
pub fn results(body: &str) -> Vec<String> {
    list(body, "results")
        .split(r#"<a class="package-link" href="/packages/"#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}
