//! The account pages: signing in, and the signed-in user's settings (their
//! personal access tokens).

use askama::Template;

use crate::pages::{Layout, Moment};

/// A line that says how something went: good (done) or bad (refused).
#[derive(Debug, Clone)]
pub struct Notice {
    /// Whether it reports success.
    pub good: bool,
    /// What to say.
    pub text: String,
}

impl Notice {
    /// A notice that something was done.
    pub fn good(text: impl Into<String>) -> Notice {
        Notice {
            good: true,
            text: text.into(),
        }
    }

    /// A notice that something was refused.
    pub fn bad(text: impl Into<String>) -> Notice {
        Notice {
            good: false,
            text: text.into(),
        }
    }
}

/// `/sign-in`: the sign-in form, with why the last attempt was refused.
#[derive(Debug, Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    /// The frame.
    pub layout: Layout,
    /// The user name typed last (kept after a refusal).
    pub username: String,
    /// Where to go once signed in (a path on this site), if not `/`.
    pub next: String,
    /// The pre-session CSRF token, also in the `sentinel_csrf` cookie.
    pub csrf: String,
    /// Why the last attempt was refused, if it was.
    pub notice: Option<Notice>,
}

/// A personal access token as the settings page lists it.
#[derive(Debug, Clone)]
pub struct TokenRow {
    /// Its name.
    pub name: String,
    /// Its public id.
    pub id: String,
    /// What it may do: `pull`, `pull,push` or every action.
    pub access: String,
    /// The repository patterns it is limited to, or `all repositories`.
    pub repositories: String,
    /// When it was created.
    pub created: Moment,
    /// When it expires (`never`, a date, or `expired`).
    pub expires: String,
}

/// A token just created: its text, shown once.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Its name.
    pub name: String,
    /// The token itself.
    pub secret: String,
}

/// `/settings`: the user's personal access tokens, a form to create one
/// and a button to revoke each.
#[derive(Debug, Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    /// The frame (its CSRF token protects this page's forms too).
    pub layout: Layout,
    /// The signed-in user.
    pub user: String,
    /// Their tokens, oldest first.
    pub tokens: Vec<TokenRow>,
    /// The token just created, if any.
    pub new_token: Option<NewToken>,
    /// How the last change went, if one was asked for.
    pub notice: Option<Notice>,
    /// Whether this session may create and revoke tokens (it was opened
    /// with the password, not with a token).
    pub can_manage: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;

    fn signed_in() -> Layout {
        let mut layout = Layout::new("Settings", true);
        layout.user = Some("alice".to_owned());
        layout.csrf = "c5rf".to_owned();
        layout
    }

    #[test]
    fn the_sign_in_form_carries_its_token_and_escapes_what_was_typed() {
        let html = render(&SignInPage {
            layout: Layout::new("Sign in", true),
            username: "<b>x".to_owned(),
            next: "/settings".to_owned(),
            csrf: "pre".to_owned(),
            notice: Some(Notice::bad("Wrong user name or password.")),
        })
        .unwrap();
        assert!(html.contains(r#"id="sign-in-form""#), "{html}");
        assert!(html.contains(r#"name="csrf" value="pre""#), "{html}");
        assert!(html.contains(r#"name="next" value="/settings""#), "{html}");
        assert!(html.contains(r#"class="notice bad""#), "{html}");
        assert!(
            html.contains("&#60;b&#62;x") && !html.contains("<b>x"),
            "{html}"
        );
    }

    #[test]
    fn settings_list_tokens_with_revoke_forms_and_show_a_new_one_once() {
        let html = render(&SettingsPage {
            layout: signed_in(),
            user: "alice".to_owned(),
            tokens: vec![TokenRow {
                name: "ci<script>".to_owned(),
                id: "0123456789ab".to_owned(),
                access: "pull".to_owned(),
                repositories: "alice/*".to_owned(),
                created: Moment {
                    ago: "just now".to_owned(),
                    utc: "2026-12-07T11:00:00Z".to_owned(),
                },
                expires: "never".to_owned(),
            }],
            new_token: Some(NewToken {
                name: "ci".to_owned(),
                secret: "sntl_secret".to_owned(),
            }),
            notice: Some(Notice::good("Created token ci.")),
            can_manage: true,
        })
        .unwrap();
        assert!(html.contains(r#"<tr class="token">"#), "{html}");
        assert!(html.contains("ci&#60;script&#62;"), "{html}");
        assert!(
            html.contains(r#"action="/settings/tokens/0123456789ab/revoke""#),
            "{html}"
        );
        assert!(html.contains(r#"class="revoke"#), "{html}");
        assert!(html.contains(r#"id="create-token-form""#), "{html}");
        assert!(html.contains(r#"data-copy="sntl_secret""#), "{html}");
        assert!(html.contains(r#"class="notice good""#), "{html}");
        assert_eq!(html.matches(r#"name="csrf" value="c5rf""#).count(), 3);
    }
}
