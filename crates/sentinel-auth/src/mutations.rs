//! The changes an administrator or user can make to the auth state. Each
//! validates everything before changing anything, so a failed mutation
//! leaves the state as it was.

use crate::error::AuthError;
use crate::model::{
    Access, AuthState, Organisation, PersonalToken, Role, TokenScope, User, Visibility,
    namespace_of,
};
use crate::secrets::{hash_password, new_token};
use crate::validate;

impl AuthState {
    /// Adds a user with an argon2id hash of `password` (slow: call it off
    /// the async runtime). User and organisation names share one namespace.
    pub fn add_user(
        &mut self,
        name: &str,
        password: &str,
        role: Role,
        now: u64,
    ) -> Result<(), AuthError> {
        validate::account_name(name)?;
        if self.users.contains_key(name) {
            return Err(AuthError::UserExists(name.to_owned()));
        }
        if self.organisations.contains_key(name) {
            return Err(AuthError::NameTaken(name.to_owned()));
        }
        validate::password(password)?;
        let user = User {
            role,
            password_hash: hash_password(password)?,
            generation: self.next_generation(),
            created: now,
        };
        self.users.insert(name.to_owned(), user);
        Ok(())
    }

    /// Removes a user with their tokens, organisation memberships and
    /// repository grants, and returns the removed user. The last
    /// administrator cannot be removed.
    pub fn remove_user(&mut self, name: &str) -> Result<User, AuthError> {
        let user = self.user(name)?;
        if user.role == Role::Admin && self.admin_count() == 1 {
            return Err(AuthError::LastAdmin(name.to_owned()));
        }
        self.tokens.retain(|_, token| token.user != name);
        for organisation in self.organisations.values_mut() {
            organisation.members.remove(name);
        }
        for policy in self.repositories.values_mut() {
            policy.grants.remove(name);
        }
        self.repositories.retain(|_, policy| !policy.is_default());
        self.users
            .remove(name)
            .ok_or_else(|| AuthError::UnknownUser(name.to_owned()))
    }

    /// Replaces a user's password (slow: argon2id) and bumps their
    /// generation, which ends every session issued before.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<(), AuthError> {
        self.user(name)?;
        validate::password(password)?;
        let password_hash = hash_password(password)?;
        let generation = self.next_generation();
        let user = self.user_mut(name)?;
        user.password_hash = password_hash;
        user.generation = generation;
        Ok(())
    }

    /// Changes a user's role. A change bumps their generation, so sessions
    /// issued under the old role end at once. The last administrator cannot
    /// be demoted.
    pub fn set_role(&mut self, name: &str, role: Role) -> Result<(), AuthError> {
        let current = self.user(name)?.role;
        if current == role {
            return Ok(());
        }
        if current == Role::Admin && self.admin_count() == 1 {
            return Err(AuthError::LastAdmin(name.to_owned()));
        }
        let generation = self.next_generation();
        let user = self.user_mut(name)?;
        user.role = role;
        user.generation = generation;
        Ok(())
    }

    /// Creates a personal access token for `user` and returns it with its
    /// text (`sntl_<id>_<secret>`), which is never stored and must be shown
    /// to the user now.
    pub fn create_token(
        &mut self,
        user: &str,
        name: &str,
        scope: TokenScope,
        expires: Option<u64>,
        now: u64,
    ) -> Result<(PersonalToken, String), AuthError> {
        self.user(user)?;
        validate::token_name(name)?;
        for pattern in &scope.repositories {
            validate::scope_pattern(pattern)?;
        }
        if let Some(expires) = expires
            && expires <= now
        {
            return Err(AuthError::InvalidExpiry { expires, now });
        }
        let drawn = loop {
            let drawn = new_token()?;
            if !self.tokens.contains_key(&drawn.id) {
                break drawn;
            }
        };
        let token = PersonalToken {
            id: drawn.id,
            user: user.to_owned(),
            name: name.to_owned(),
            secret_hash: drawn.secret_hash,
            scope,
            created: now,
            expires,
        };
        self.tokens.insert(token.id.clone(), token.clone());
        Ok((token, drawn.text))
    }

    /// Revokes (deletes) a personal access token and returns it; it stops
    /// working at once.
    pub fn revoke_token(&mut self, id: &str) -> Result<PersonalToken, AuthError> {
        self.tokens
            .remove(id)
            .ok_or_else(|| AuthError::UnknownToken(id.to_owned()))
    }

    /// The personal access tokens of `user`, or of everyone for `None`,
    /// oldest first.
    pub fn tokens_of(&self, user: Option<&str>) -> Vec<&PersonalToken> {
        let mut tokens: Vec<&PersonalToken> = self
            .tokens
            .values()
            .filter(|token| user.is_none_or(|user| token.user == user))
            .collect();
        tokens.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        tokens
    }

    /// Creates an organisation, owning the namespace `<name>/`; `owner`, if
    /// given, becomes its first admin member.
    pub fn create_organisation(
        &mut self,
        name: &str,
        owner: Option<&str>,
        now: u64,
    ) -> Result<(), AuthError> {
        validate::account_name(name)?;
        if self.users.contains_key(name) || self.organisations.contains_key(name) {
            return Err(AuthError::NameTaken(name.to_owned()));
        }
        let mut organisation = Organisation {
            members: Default::default(),
            created: now,
        };
        if let Some(owner) = owner {
            self.user(owner)?;
            organisation.members.insert(owner.to_owned(), Role::Admin);
        }
        self.organisations.insert(name.to_owned(), organisation);
        Ok(())
    }

    /// Adds `user` to an organisation with `role`, or changes their role if
    /// they are already a member.
    pub fn add_member(
        &mut self,
        organisation: &str,
        user: &str,
        role: Role,
    ) -> Result<(), AuthError> {
        self.user(user)?;
        self.organisation_mut(organisation)?
            .members
            .insert(user.to_owned(), role);
        Ok(())
    }

    /// Removes `user` from an organisation.
    pub fn remove_member(&mut self, organisation: &str, user: &str) -> Result<(), AuthError> {
        match self.organisation_mut(organisation)?.members.remove(user) {
            Some(_) => Ok(()),
            None => Err(AuthError::NotAMember {
                organisation: organisation.to_owned(),
                user: user.to_owned(),
            }),
        }
    }

    /// Sets a repository's visibility. Organisation visibility needs the
    /// repository to be in an organisation's namespace.
    pub fn set_visibility(
        &mut self,
        repository: &str,
        visibility: Visibility,
    ) -> Result<(), AuthError> {
        validate::repository(repository)?;
        let in_organisation = namespace_of(repository)
            .is_some_and(|namespace| self.organisations.contains_key(namespace));
        if visibility == Visibility::Organisation && !in_organisation {
            return Err(AuthError::OrganisationVisibility(repository.to_owned()));
        }
        self.repositories
            .entry(repository.to_owned())
            .or_default()
            .visibility = visibility;
        self.forget_default_policy(repository);
        Ok(())
    }

    /// Grants `user` `access` to a repository, replacing any earlier grant.
    pub fn grant(&mut self, repository: &str, user: &str, access: Access) -> Result<(), AuthError> {
        validate::repository(repository)?;
        self.user(user)?;
        self.repositories
            .entry(repository.to_owned())
            .or_default()
            .grants
            .insert(user.to_owned(), access);
        Ok(())
    }

    /// Removes `user`'s grant on a repository.
    pub fn revoke_grant(&mut self, repository: &str, user: &str) -> Result<(), AuthError> {
        let removed = self
            .repositories
            .get_mut(repository)
            .and_then(|policy| policy.grants.remove(user));
        if removed.is_none() {
            return Err(AuthError::NoGrant {
                repository: repository.to_owned(),
                user: user.to_owned(),
            });
        }
        self.forget_default_policy(repository);
        Ok(())
    }

    fn user(&self, name: &str) -> Result<&User, AuthError> {
        self.users
            .get(name)
            .ok_or_else(|| AuthError::UnknownUser(name.to_owned()))
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut User, AuthError> {
        self.users
            .get_mut(name)
            .ok_or_else(|| AuthError::UnknownUser(name.to_owned()))
    }

    fn organisation_mut(&mut self, name: &str) -> Result<&mut Organisation, AuthError> {
        self.organisations
            .get_mut(name)
            .ok_or_else(|| AuthError::UnknownOrganisation(name.to_owned()))
    }

    fn admin_count(&self) -> usize {
        self.users
            .values()
            .filter(|user| user.role == Role::Admin)
            .count()
    }

    /// Drops a repository's entry when it says no more than the default.
    fn forget_default_policy(&mut self, repository: &str) {
        if self
            .repositories
            .get(repository)
            .is_some_and(|policy| policy.is_default())
        {
            self.repositories.remove(repository);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_re_created_under_a_removed_name_gets_a_new_generation() {
        let mut state = AuthState::default();
        state
            .add_user("alice", "first-password", Role::Publisher, 0)
            .unwrap();
        let first = state.users["alice"].generation;
        state.remove_user("alice").unwrap();
        state
            .add_user("alice", "second-password", Role::Publisher, 0)
            .unwrap();
        let second = state.users["alice"].generation;
        assert!(second > first, "{second} after {first}");
        assert!(!crate::is_current(&state, "alice", Some(first), None, 0));
        assert!(crate::is_current(&state, "alice", Some(second), None, 0));
        state.set_role("alice", Role::Reader).unwrap();
        assert!(state.users["alice"].generation > second);
    }
}
