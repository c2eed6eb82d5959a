//! Where the CLI finds the admin API, its key and the org: each value from its flag, else
//! the environment, else `.local/endpoint.env` (written by `make run`), found from the
//! current directory upward.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::CliError;

/// The file `make run` writes, relative to the project root.
const ENDPOINT_ENV: &str = ".local/endpoint.env";

/// What the flags gave.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub endpoint: Option<String>,
    pub key: Option<String>,
    pub org: Option<String>,
}

/// The resolved connection. `Debug` leaves the key out.
#[derive(Clone)]
pub struct Config {
    /// The admin API's base URL, ending in `/admin/v1` (no trailing slash).
    pub endpoint: String,
    pub key: String,
    pub org: Option<String>,
    /// `DIRECTORY_ID` of the environment or the file: the default `--directory`.
    pub directory: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint)
            .field("key", &"<hidden>")
            .field("org", &self.org)
            .finish()
    }
}

/// `.local/endpoint.env` in `dir` or the nearest ancestor that has one.
pub fn find_endpoint_env(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(ENDPOINT_ENV))
        .find(|p| p.is_file())
}

/// `KEY=value` lines (optionally `export KEY=value`, values optionally quoted); `#` comments.
pub fn parse_env_file(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

impl Config {
    /// Flag, else environment, else the endpoint file (read only when something is missing).
    pub fn resolve(flags: &Flags) -> Result<Config, CliError> {
        let endpoint = flags
            .endpoint
            .clone()
            .or_else(|| env(&["SCIMLINK_ADMIN_URL", "ADMIN_BASE_URL"]));
        let key = flags
            .key
            .clone()
            .or_else(|| env(&["SCIMLINK_ADMIN_KEY", "OPERATOR_KEY"]));
        let org = flags.org.clone().or_else(|| env(&["ORG_ID"]));
        let directory = env(&["DIRECTORY_ID"]);
        let file = if endpoint.is_none() || key.is_none() || org.is_none() || directory.is_none() {
            std::env::current_dir()
                .ok()
                .and_then(|d| find_endpoint_env(&d))
                .and_then(|p| std::fs::read_to_string(p).ok())
                .map(|t| parse_env_file(&t))
                .unwrap_or_default()
        } else {
            HashMap::new()
        };
        let from_file = |k: &str| file.get(k).filter(|v| !v.is_empty()).cloned();
        let endpoint = endpoint.or_else(|| from_file("ADMIN_BASE_URL")).ok_or_else(|| {
            CliError::Usage(
                "no admin API endpoint: pass --endpoint, set SCIMLINK_ADMIN_URL, or run `make run` (it writes .local/endpoint.env)".into(),
            )
        })?;
        let key = key.or_else(|| from_file("OPERATOR_KEY")).ok_or_else(|| {
            CliError::Usage(
                "no admin key: pass --key, set SCIMLINK_ADMIN_KEY, or run `make run` (it writes .local/endpoint.env)".into(),
            )
        })?;
        Ok(Config {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            key,
            org: org.or_else(|| from_file("ORG_ID")),
            directory: directory.or_else(|| from_file("DIRECTORY_ID")),
        })
    }

    /// The org, or a usage error naming how to give one.
    pub fn org(&self) -> Result<&str, CliError> {
        self.org
            .as_deref()
            .ok_or_else(|| CliError::Usage("no organization: pass --org or set ORG_ID".into()))
    }

    /// `--directory`, else `DIRECTORY_ID`.
    pub fn directory<'a>(&'a self, flag: &'a Option<String>) -> Result<&'a str, CliError> {
        flag.as_deref()
            .or(self.directory.as_deref())
            .ok_or_else(|| {
                CliError::Usage("no directory: pass --directory or set DIRECTORY_ID".into())
            })
    }

    /// The deployment's origin: the endpoint without its `/admin/v1` path.
    pub fn origin(&self) -> &str {
        self.endpoint
            .strip_suffix("/admin/v1")
            .unwrap_or(&self.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines() {
        let m = parse_env_file(
            "# c\nADMIN_BASE_URL=http://x/admin/v1\nexport ORG_ID=\"o1\"\nOPERATOR_KEY='k=1'\n\n",
        );
        assert_eq!(
            m.get("ADMIN_BASE_URL").map(String::as_str),
            Some("http://x/admin/v1")
        );
        assert_eq!(m.get("ORG_ID").map(String::as_str), Some("o1"));
        assert_eq!(m.get("OPERATOR_KEY").map(String::as_str), Some("k=1"));
    }
}
