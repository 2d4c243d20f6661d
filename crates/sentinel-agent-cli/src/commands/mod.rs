//! One module per group of subcommands.

pub mod configure;
pub mod copy;
pub mod delete;
pub mod images;
pub mod init;
pub mod inspect;
pub mod key;
pub mod login;
pub mod pack;
pub mod pull;
pub mod push;
pub mod registry;
pub mod search;
pub mod sign;
pub mod stack;
pub mod trust;
pub mod verify;
pub mod versions;
