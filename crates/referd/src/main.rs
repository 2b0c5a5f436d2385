//! `referd`: the command line. Everything it runs lives in the `referd` library so tests can
//! drive the same code.

use std::process::ExitCode;

use clap::Parser;
use referd::cli::{
    AdminTokensCommand, Cli, Command, KeysCommand, LedgerCommand, ProgramsCommand, RulesCommand,
};
use referd::{app_state, commands, open_and_migrate, redact, serve, shutdown_signal};
use tracing_subscriber::EnvFilter;

// mimalloc: request handling allocates many small JSON values; malloc and free were ~5% of
// the server's CPU under load with the system allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to stderr: stdout carries only the JSON that commands print.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("referd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("referd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print(value: &serde_json::Value) {
    println!("{value}");
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            bind,
            db,
            public_url,
        } => {
            let store = open_and_migrate(&db.database_url).await?;
            let listener = tokio::net::TcpListener::bind(&bind)
                .await
                .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
            tracing::info!(
                backend = store.backend_name(),
                database = %redact(&db.database_url),
                "referd listening on http://{addr} (public URL {public_url})"
            );
            serve(listener, app_state(store, &public_url), shutdown_signal())
                .await
                .map_err(|e| format!("server error: {e}"))
        }
        Command::Migrate { db } => {
            let store = open_and_migrate(&db.database_url).await?;
            store.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Programs { command } => match command {
            ProgramsCommand::Create {
                program_type,
                name,
                website,
                db,
            } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out =
                    commands::create_program(&*store, program_type, &name, website.as_deref())
                        .await;
                store.close().await;
                print(&out?);
                Ok(())
            }
            ProgramsCommand::List { db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::list_programs(&*store).await;
                store.close().await;
                out?.iter().for_each(print);
                Ok(())
            }
        },
        Command::Keys { command } => match command {
            KeysCommand::Create { program, db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::create_key(&*store, &program).await;
                store.close().await;
                print(&out?);
                Ok(())
            }
            KeysCommand::List { program, db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::list_keys(&*store, &program).await;
                store.close().await;
                out?.iter().for_each(print);
                Ok(())
            }
            KeysCommand::Revoke {
                key,
                id,
                program,
                db,
            } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out =
                    commands::revoke_key(&*store, key.as_deref(), id, program.as_deref()).await;
                store.close().await;
                print(&out?);
                Ok(())
            }
        },
        Command::Rules { command } => match command {
            RulesCommand::Set { program, file, db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::set_rules(&*store, &program, &file).await;
                store.close().await;
                print(&out?);
                Ok(())
            }
            RulesCommand::Show { program, db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::show_rules(&*store, &program).await;
                store.close().await;
                print(&out?);
                Ok(())
            }
        },
        Command::Ledger { command } => match command {
            LedgerCommand::Verify { program, db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::verify_ledger(&*store, program.as_deref()).await;
                store.close().await;
                let (reports, healthy) = out?;
                reports.iter().for_each(print);
                if healthy {
                    Ok(())
                } else {
                    Err("the ledger has problems (listed above)".into())
                }
            }
        },
        Command::AdminTokens { command } => match command {
            AdminTokensCommand::Create { db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::create_admin_token(&*store).await;
                store.close().await;
                print(&out?);
                Ok(())
            }
            AdminTokensCommand::List { db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::list_admin_tokens(&*store).await;
                store.close().await;
                out?.iter().for_each(print);
                Ok(())
            }
            AdminTokensCommand::Revoke { token, id, db } => {
                let store = open_and_migrate(&db.database_url).await?;
                let out = commands::revoke_admin_token(&*store, token.as_deref(), id).await;
                store.close().await;
                print(&out?);
                Ok(())
            }
        },
    }
}
