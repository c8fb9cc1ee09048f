//! `user`: users, roles, grants and API keys.

use std::process::ExitCode;

use anyhow::{Result, bail};
use gabarit_engine::store::Place;

use crate::flags::{KeyCommand, UserCommand};
use crate::keys::{open_as, write_private_file};

pub(crate) fn parse_roles(roles: &[String]) -> Result<Vec<gabarit_engine::governance::Role>> {
    Ok(roles.iter().map(|r| gabarit_engine::governance::Role::parse(r)).collect::<Result<_, _>>()?)
}

pub(crate) fn user(data: &Place, cmd: UserCommand) -> Result<ExitCode> {
    let (gabarit, who) = open_as(data)?;
    match cmd {
        UserCommand::Add { name, roles } => {
            let key = gabarit.add_user(&who, &name, &parse_roles(&roles)?)?;
            println!("user {name} created; API key (shown once, store it safely): {key}");
        }
        UserCommand::Roles { name, roles } => {
            gabarit.set_roles(&who, &name, &parse_roles(&roles)?)?;
            println!("user {name}: roles {}", roles.join(", "));
        }
        UserCommand::Grant { name, collection } => {
            gabarit.grant(&who, &name, &collection)?;
            println!("user {name} is granted {collection}");
        }
        UserCommand::Ungrant { name, collection } => {
            gabarit.ungrant(&who, &name, &collection)?;
            println!("user {name} is no longer granted {collection}");
        }
        UserCommand::Key(KeyCommand::Issue { name, out }) => {
            if let Some(path) = out.as_ref().filter(|p| p.exists()) {
                bail!("{}: exists already; name a new file for the key", path.display());
            }
            let key = gabarit.issue_key(&who, &name)?;
            println!("API key for {name} (shown once): {key}");
            if let Some(path) = out {
                write_private_file(&path, &key)?;
            }
        }
        UserCommand::Key(KeyCommand::List { name }) => {
            for k in gabarit.list_keys(&who, &name)? {
                println!(
                    "gbk_{}_…  issued {}  {}",
                    k.prefix,
                    k.created_at,
                    k.revoked_at.map(|r| format!("revoked {r}")).unwrap_or_else(|| "valid".into())
                );
            }
        }
        UserCommand::Key(KeyCommand::Revoke { name, prefix }) => {
            gabarit.revoke_key(&who, &name, &prefix)?;
            println!("key gbk_{prefix}_… of {name} revoked");
        }
        UserCommand::Disable { name } => {
            gabarit.disable_user(&who, &name)?;
            println!("user {name} disabled: their keys and sessions no longer work");
        }
        UserCommand::Password { name } => {
            let password = match std::env::var("GABARIT_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            gabarit.set_password(&who, &name, &password)?;
            println!("password set for {name}; their open sessions ended");
        }
        UserCommand::List => {
            for u in gabarit.list_users(&who)? {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.name()).collect();
                println!("{:<20} {:<30} {}", u.name, roles.join(","), u.collections.join(","));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
