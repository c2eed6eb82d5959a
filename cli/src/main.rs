//! `scimlink`: the admin API for administrators and scripts. docs/CLI.md has every command,
//! where the endpoint and key come from, and the exit codes.

mod client;
mod commands;
mod config;
mod error;
mod render;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Flags};
use crate::error::CliError;

const EXIT_CODES: &str = "\
Configuration (each value: flag, else environment, else .local/endpoint.env found from the
current directory upward, as `make run` writes it):
  endpoint   --endpoint, SCIMLINK_ADMIN_URL or ADMIN_BASE_URL   (…/admin/v1)
  key        --key, SCIMLINK_ADMIN_KEY or OPERATOR_KEY          (operator or org admin key)
  org        --org, ORG_ID
  directory  --directory, DIRECTORY_ID                          (tokens, safeguard)

Exit codes:
  0  success (a dry run that would change things too)
  1  usage: bad arguments, or no endpoint, key or org configured
  2  the API refused the call (4xx other than 404: 400, 401 bad key, 403, 409...);
     the SCIM error's detail is on stderr
  3  not found (404: no such org, directory, account, group or token)
  4  server or transport error (5xx, unreachable, an answer that is not the API's)";

/// The scimlink admin CLI.
#[derive(Debug, Parser)]
#[command(name = "scimlink", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// The admin API's base URL (…/admin/v1)
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
    /// The operator key or an org admin key (prefer the environment: flags show in `ps`)
    #[arg(long, global = true, value_name = "KEY")]
    key: Option<String>,
    /// The organization id
    #[arg(long, global = true, value_name = "ORG")]
    org: Option<String>,
    /// Print the API's JSON as it is, for scripts
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Organizations
    #[command(subcommand)]
    Orgs(OrgsCmd),
    /// Directories (IdP connections)
    #[command(subcommand)]
    Directories(DirectoriesCmd),
    /// A directory's SCIM bearer tokens (rotate: create, switch the IdP, revoke the old one)
    #[command(subcommand)]
    Tokens(TokensCmd),
    /// Invite a person: an account of origin `invited`
    Invite(InviteArgs),
    /// Accounts: origin, managed or external, who manages them, link and access
    #[command(subcommand)]
    Accounts(AccountsCmd),
    /// Every record of the cascade for an email, and the verdict with the next step
    Diagnose { email: String },
    /// Held groups: review, sync, reject
    #[command(subcommand)]
    Conflicts(ConflictsCmd),
    /// The troubleshooting log, newest first (with --follow: newest last, as it comes)
    Log(LogArgs),
    /// A directory's mass-deprovisioning safeguard and its holds
    #[command(subcommand)]
    Safeguard(SafeguardCmd),
}

#[derive(Debug, Subcommand)]
pub enum OrgsCmd {
    /// Create an organization (operator key)
    Create {
        /// Its name
        #[arg(long)]
        name: String,
        /// A verified domain (accounts there are managed); repeat for several
        #[arg(long = "domain", value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// Show the organization
    Get,
}

#[derive(Debug, Subcommand)]
pub enum DirectoriesCmd {
    /// List the org's directories with their SCIM base URLs
    List,
    /// Create a directory
    Create {
        #[arg(long)]
        name: String,
        /// okta, entra, google, onelogin, jumpcloud or generic
        #[arg(long, default_value = "generic")]
        idp: String,
    },
}

#[derive(Debug, Args)]
pub struct DirectoryArg {
    /// The directory id (default: DIRECTORY_ID)
    #[arg(long, short = 'd', value_name = "DIR")]
    pub directory: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// List the directory's tokens (ids and creation times; never a secret)
    List(DirectoryArg),
    /// Create a token: its secret is printed once
    Create(DirectoryArg),
    /// Revoke a token
    Revoke {
        #[command(flatten)]
        dir: DirectoryArg,
        /// The token's id
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    pub email: String,
    #[arg(long)]
    pub display_name: Option<String>,
    #[arg(long)]
    pub given_name: Option<String>,
    #[arg(long)]
    pub family_name: Option<String>,
    /// Show what would be created; create nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCmd {
    /// Accounts by email
    List {
        /// Accounts per page (the API's default when absent)
        #[arg(long)]
        limit: Option<u32>,
        /// The `nextCursor` of a previous page
        #[arg(long)]
        cursor: Option<String>,
        /// Every page
        #[arg(long)]
        all: bool,
    },
    /// One account: its linked SCIM user, synced and admin groups
    Get { id: String },
    /// An account's effective access, each role with where it comes from
    Access { id: String },
}

#[derive(Debug, Args)]
pub struct DryRun {
    /// Show the exact changes; change nothing (exit 0)
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsCmd {
    /// Held groups with their numbers
    List,
    /// One held group: the accounts added and removed with their access deltas, paged
    Review {
        directory: String,
        group: String,
        /// First account of the page
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Accounts per page (each of added and removed)
        #[arg(long)]
        limit: Option<u64>,
        /// Every page
        #[arg(long)]
        all: bool,
    },
    /// Sync a held group: the IdP's membership replaces the org group's
    Sync {
        directory: String,
        group: String,
        #[command(flatten)]
        dry: DryRun,
    },
    /// Sync every held group that can be, resuming until done
    SyncAll {
        #[command(flatten)]
        dry: DryRun,
        /// Also sync the groups an admin rejected
        #[arg(long)]
        include_rejected: bool,
    },
    /// Reject a held group: it stays held
    Reject {
        directory: String,
        group: String,
        #[command(flatten)]
        dry: DryRun,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this directory's events
    #[arg(long, short = 'd', value_name = "DIR")]
    pub directory: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    /// A SCIM id
    #[arg(long)]
    pub scim_id: Option<String>,
    /// created, linked, took-over, updated, unlinked, relinked, conflict, refused, deleted, held
    #[arg(long)]
    pub outcome: Option<String>,
    /// From this day (YYYY-MM-DD)
    #[arg(long)]
    pub since: Option<String>,
    /// Up to this day (YYYY-MM-DD)
    #[arg(long)]
    pub until: Option<String>,
    /// How many events (pages are fetched as needed)
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Keep polling and print new events as they come (newest last) until Ctrl-C
    #[arg(long)]
    pub follow: bool,
    /// With --follow: stop after this many seconds
    #[arg(long, value_name = "SECS", requires = "follow")]
    pub follow_for: Option<u64>,
    /// With --follow: seconds between polls
    #[arg(long, value_name = "SECS", default_value_t = 2, requires = "follow")]
    pub interval: u64,
}

#[derive(Debug, Args)]
pub struct HoldsDecision {
    #[command(flatten)]
    pub dir: DirectoryArg,
    /// Only these accounts (default: every hold); repeat for several
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    #[command(flatten)]
    pub dry: DryRun,
}

#[derive(Debug, Subcommand)]
pub enum SafeguardCmd {
    /// Settings, the open window, whether it tripped, how many accounts are held
    Get(DirectoryArg),
    /// Change settings (absent ones keep their value)
    Set {
        #[command(flatten)]
        dir: DirectoryArg,
        /// true or false
        #[arg(long)]
        enabled: Option<bool>,
        /// Deprovisionings a window lets through, as a share (percent) of the directory's users
        #[arg(long)]
        share_percent: Option<u32>,
        /// Deprovisionings a window always lets through (the larger of the two applies)
        #[arg(long)]
        min_count: Option<u32>,
        /// The window's length (docs/SAFEGUARD.md)
        #[arg(long)]
        window_minutes: Option<u32>,
        #[command(flatten)]
        dry: DryRun,
    },
    /// Every held account, oldest first
    Holds(DirectoryArg),
    /// Apply the held effects (suspensions, revoked roles)
    Approve(HoldsDecision),
    /// End holds without applying them
    Release(HoldsDecision),
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let flags = Flags {
        endpoint: cli.endpoint.clone(),
        key: cli.key.clone(),
        org: cli.org.clone(),
    };
    let config = Config::resolve(&flags)?;
    let client = client::Client::new(config)?;
    commands::run(&client, cli.command, cli.json).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scimlink: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
