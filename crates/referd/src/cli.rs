//! The command line, a contract scripts and operators rely on (issue #2): `serve`,
//! `migrate`, `programs create|list`, `keys create|list|revoke`.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{DEFAULT_BIND, DEFAULT_DATABASE_URL};

#[derive(Debug, Parser)]
#[command(
    name = "referd",
    version,
    about = "A self-hosted referral and affiliate engine speaking the Partnero API v1"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct DatabaseArg {
    /// Database URL: sqlite:PATH (default) or postgres://USER@HOST/DB.
    #[arg(long, env = "REFERD_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (applies migrations first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "REFERD_BIND", default_value = DEFAULT_BIND)]
        bind: String,
        #[command(flatten)]
        db: DatabaseArg,
        /// Base of absolute URLs in responses, such as pagination links (default http://<bind>).
        #[arg(long, env = "REFERD_PUBLIC_URL")]
        public_url: Option<String>,
    },
    /// Apply database migrations.
    Migrate {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Create and list programs.
    Programs {
        #[command(subcommand)]
        command: ProgramsCommand,
    },
    /// Create, list and revoke API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Set and show a program's reward rules (docs/rules.md).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Check the ledger: recompute every total from the entries and report any difference.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Create, list and revoke admin tokens (for the admin API, /admin/v1).
    AdminTokens {
        #[command(subcommand)]
        command: AdminTokensCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokensCommand {
    /// Create an admin token; prints {"admin_token":"rfa_…"} (shown only this once).
    Create {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List admin tokens (id, hint, created, revoked), one JSON object per line.
    List {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Revoke an admin token, named by the token itself or by its id from `admin-tokens list`.
    Revoke {
        /// The full admin token to revoke.
        #[arg(required_unless_present = "id", conflicts_with = "id")]
        token: Option<String>,
        /// The token's id, as `admin-tokens list` prints it.
        #[arg(long)]
        id: Option<i64>,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a rule set (JSON file, `-` for stdin) and store it as the program's next
    /// version; prints {"program","version","created_at","rules"}. Invalid rules change nothing.
    Set {
        /// The program's public id.
        #[arg(long)]
        program: String,
        /// The JSON file holding the rule set.
        #[arg(long)]
        file: std::path::PathBuf,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Print the rules in force: {"program","version","created_at","rules"} (version null
    /// when none were ever set).
    Show {
        #[arg(long)]
        program: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProgramTypeArg {
    Referral,
    Affiliate,
    Newsletter,
}

#[derive(Debug, Subcommand)]
pub enum ProgramsCommand {
    /// Create a program and its first API key; prints one JSON object.
    Create {
        #[arg(long = "type", value_enum)]
        program_type: ProgramTypeArg,
        #[arg(long)]
        name: String,
        /// The merchant's website: the base of referral links.
        #[arg(long)]
        website: Option<String>,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List programs, one JSON object per line.
    List {
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create another API key for a program; prints {"api_key":"…"}.
    Create {
        /// The program's public id.
        #[arg(long)]
        program: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// List a program's keys (id, hint, created, revoked), one JSON object per line.
    List {
        #[arg(long)]
        program: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Revoke a key, named by the key itself or by its id from `keys list`.
    Revoke {
        /// The full API key to revoke.
        #[arg(required_unless_present = "id", conflicts_with = "id")]
        key: Option<String>,
        /// The key's id, as `keys list` prints it.
        #[arg(long)]
        id: Option<i64>,
        /// Only revoke within this program (public id).
        #[arg(long)]
        program: Option<String>,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Verify one program's ledger (or every program's): prints one JSON object per program
    /// with its counts and problems; exits 1 when any problem is found.
    Verify {
        /// The program's public id (all programs when absent).
        #[arg(long)]
        program: Option<String>,
        #[command(flatten)]
        db: DatabaseArg,
    },
}
