//! An error and its causes as one line, for logs and messages. (The HTTP
//! layer's error type is `api::ApiError`.)

/// An error and its chain of causes on one line: `outer: cause: root cause`
/// (a cause whose text is already there, as wrappers often repeat it, is skipped).
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
