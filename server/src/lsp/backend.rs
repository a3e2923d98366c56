//! LSP handlers. Each one looks up the project and enqueues a job; none awaits Docker or a
//! request to the client. Commands wait for their job's reply (a worker's, not the client's).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use super::convert;
use super::protocol::{CleanReply, CycleReply, StatusReply, CLEAN, COMMANDS, FULL_BUILD, REBUILD, STATUS};
use super::settings::{ComposeSettings, COMPOSE_SECTION};
use super::workspace::{ProblemNews, ProjectId, Workspace};
use crate::session::{error_diagnostic, Input, State};

pub struct Backend {
    client: Client,
    workspace: Arc<Mutex<Workspace>>,
}

impl Backend {
    pub fn new(client: Client) -> Backend {
        Backend { client, workspace: Arc::default() }
    }

    fn workspace(&self) -> MutexGuard<'_, Workspace> {
        lock(&self.workspace)
    }

    async fn enqueue_for_path(&self, path: PathBuf) {
        update(&self.client, &self.workspace, |ws| {
            for id in ws.projects_of(&path) {
                ws.project(&id, &self.client).send(Input::Saved);
            }
        })
        .await;
    }

    /// `window/workDoneProgress/cancel`: stop the build that owns this progress token.
    pub async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        let token = match params.token {
            NumberOrString::String(s) => s,
            NumberOrString::Number(n) => n.to_string(),
        };
        for handle in self.workspace().projects.values() {
            handle.cancel_token(&token);
        }
    }

    /// A message the transport guard could not pass on: say so, and go on.
    pub async fn malformed(&self, params: Value) {
        let problem = params.get("problem").and_then(Value::as_str).unwrap_or("malformed message");
        self.client.log_message(MessageType::ERROR, format!("docker-rebuilder: ignored a message: {problem}")).await;
    }

    /// The project a command's optional URI argument names, or the only one.
    fn command_project(&self, args: &[Value]) -> RpcResult<ProjectId> {
        let mut ws = self.workspace();
        if let Some(arg) = args.first() {
            let uri: Uri = serde_json::from_value(arg.clone())
                .map_err(|_| RpcError::invalid_params(format!("expected a file or folder URI, got {arg}")))?;
            let path = uri
                .to_file_path()
                .ok_or_else(|| RpcError::invalid_params(format!("{} is not a file URI", uri.as_str())))?;
            let path = path.canonicalize().unwrap_or_else(|_| path.into_owned());
            return match ws.projects_of(&path).as_slice() {
                [] => Err(RpcError::invalid_params(format!("{} is in no docker-rebuilder project", path.display()))),
                [one] => Ok(one.clone()),
                many => Err(RpcError::invalid_params(format!(
                    "{} is in the build context of several services; pass a file only one of them builds: {}",
                    path.display(),
                    many.iter().map(ProjectId::describe).collect::<Vec<_>>().join(", ")
                ))),
            };
        }
        let all = ws.all_projects();
        match all.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(RpcError::invalid_params(
                "no project: no workspace folder holds a Dockerfile or rebuilder.toml".to_string(),
            )),
            many => Err(RpcError::invalid_params(format!(
                "several projects; pass one's URI as the argument: {}",
                many.iter().map(ProjectId::describe).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let mut folders: Vec<PathBuf> = params
            .workspace_folders
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned()))
            .collect();
        #[allow(deprecated)]
        if folders.is_empty() {
            folders.extend(params.root_uri.and_then(|u| u.to_file_path().map(|p| p.into_owned())));
        }
        self.workspace().folders = folders.into_iter().map(|f| f.canonicalize().unwrap_or(f)).collect();
        // `{"rebuildOnSave": false}`: build on request only (anything else keeps the default).
        let rebuild_on_save = params.initialization_options.as_ref().and_then(|o| o.get("rebuildOnSave"));
        self.workspace().manual = rebuild_on_save.and_then(|v| v.as_bool()) == Some(false);
        self.workspace().pull_settings =
            params.capabilities.workspace.as_ref().and_then(|w| w.configuration) == Some(true);
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::NONE),
                    save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions { include_text: Some(false) })),
                    ..Default::default()
                })),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: COMMANDS.iter().map(|c| c.to_string()).collect(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "docker-rebuilder".to_string(),
                version: Some(env!("CARGO_PKG_VERSION").to_string()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if self.workspace().pull_settings {
            // The folders' compose flags first: a project started without them would build
            // another project than the user's compose runs. Not awaited here (a request to
            // the client).
            tokio::spawn(pull_settings(self.client.clone(), self.workspace.clone(), true));
            return;
        }
        update(&self.client, &self.workspace, |ws| {
            for id in ws.initial_projects() {
                // Build the image and builder if needed, and sync what changed while closed.
                ws.project(&id, &self.client).send(Input::Saved);
            }
        })
        .await;
    }

    async fn did_change_configuration(&self, _: DidChangeConfigurationParams) {
        // Whatever the notice carries, the folders' settings are read again, scoped to each.
        if self.workspace().pull_settings {
            tokio::spawn(pull_settings(self.client.clone(), self.workspace.clone(), false));
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        for handle in self.workspace().projects.values() {
            handle.session.cancel();
        }
        Ok(())
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        if self.workspace().manual {
            return;
        }
        if let Some(path) = params.text_document.uri.to_file_path() {
            let path = path.into_owned();
            self.enqueue_for_path(path.canonicalize().unwrap_or(path)).await;
        }
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        if self.workspace().manual {
            return;
        }
        // Per project, one `Changed` with the files' newest change: the client may report
        // writes late (after a cancel that dropped them), and a session drops watched changes
        // older than its last cancel, as it does its own watcher's.
        let mut changed: BTreeMap<ProjectId, Vec<PathBuf>> = BTreeMap::new();
        for change in params.changes {
            if let Some(path) = change.uri.to_file_path() {
                let path = path.into_owned();
                let path = path.canonicalize().unwrap_or(path);
                for id in self.workspace().projects_of(&path) {
                    changed.entry(id).or_default().push(path.clone());
                }
            }
        }
        update(&self.client, &self.workspace, |ws| {
            for (id, paths) in changed {
                ws.project(&id, &self.client).send(Input::files_changed(&paths));
            }
        })
        .await;
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<LSPAny>> {
        let id = self.command_project(&params.arguments)?;
        let handle = self.workspace().project(&id, &self.client);
        let session = &handle.session;
        let reply = match params.command.as_str() {
            STATUS => serde_json::to_value(StatusReply::from(&session.status())),
            REBUILD | FULL_BUILD => match session.rebuild(params.command == FULL_BUILD).await {
                Ok(report) => serde_json::to_value(CycleReply::of(&report, State::after(&report.outcome))),
                Err(e) => return Err(command_failed(&e)),
            },
            CLEAN => match session.clean().await {
                Ok(report) => serde_json::to_value(CleanReply::from(&report)),
                Err(e) => return Err(command_failed(&e)),
            },
            other => {
                return Err(RpcError::invalid_params(format!(
                    "unknown command {other}; known: {}",
                    COMMANDS.join(", ")
                )))
            }
        };
        reply.map(Some).map_err(|e| RpcError { message: e.to_string().into(), ..RpcError::internal_error() })
    }
}

fn lock(workspace: &Mutex<Workspace>) -> MutexGuard<'_, Workspace> {
    // A poisoned lock only means a panic elsewhere; the data is still consistent.
    workspace.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads each workspace folder's `dockerRebuilder.compose` settings and applies them: a folder
/// whose settings changed has its sessions restarted on them (`initial`: every folder's
/// projects start, once the settings are known). A folder whose settings are invalid keeps
/// what it had, and is not started until they are corrected.
async fn pull_settings(client: Client, workspace: Arc<Mutex<Workspace>>, initial: bool) {
    let folders = lock(&workspace).folders.clone();
    let items = folders
        .iter()
        .map(|f| ConfigurationItem { scope_uri: convert::uri(f), section: Some(COMPOSE_SECTION.to_string()) })
        .collect();
    let answers = match client.configuration(items).await {
        Ok(answers) => answers,
        Err(e) => {
            let text =
                format!("docker-rebuilder: the editor did not give its settings ({e}); compose's defaults apply");
            client.log_message(MessageType::WARNING, text).await;
            Vec::new()
        }
    };
    let mut invalid = Vec::new();
    update(&client, &workspace, |ws| {
        for (i, folder) in folders.iter().enumerate() {
            let settings = match ComposeSettings::parse(answers.get(i).unwrap_or(&Value::Null)) {
                Ok(settings) => settings,
                Err(e) => {
                    invalid.push(format!(
                        "docker-rebuilder: {e} (workspace folder {}). Its projects keep what they had (none \
                         start) until the setting is corrected.",
                        folder.display()
                    ));
                    continue;
                }
            };
            if ws.set_settings(folder, settings) || initial {
                for id in ws.initial_projects_of(folder) {
                    ws.project(&id, &client).send(Input::Saved);
                }
            }
        }
    })
    .await;
    for text in invalid {
        client.show_message(MessageType::ERROR, text).await;
    }
}

/// Changes the workspace under its lock, then tells the client what that found about compose
/// folders that do not load (the lock is not held across the client's notifications).
async fn update(client: &Client, workspace: &Mutex<Workspace>, change: impl FnOnce(&mut Workspace)) {
    let news = {
        let mut ws = lock(workspace);
        change(&mut ws);
        ws.take_problem_news()
    };
    tell_problems(client, news).await;
}

/// Tells the client which compose folders (with no session to say it) do not load, and
/// clears what it showed for those that load again: a diagnostic on the compose file's line,
/// and a message (the only place an error with no line shows).
async fn tell_problems(client: &Client, news: Vec<ProblemNews>) {
    for ProblemNews { folder, before, now } in news {
        let shown = now.as_ref().and_then(error_diagnostic);
        let old = before.as_ref().and_then(|e| e.location.as_ref()).map(|(path, _)| path.clone());
        if let Some(old) = old.filter(|p| shown.as_ref().map(|d| &d.path) != Some(p)) {
            if let Some(uri) = convert::uri(&old) {
                client.publish_diagnostics(uri, Vec::new(), None).await;
            }
        }
        if let Some(d) = &shown {
            if let Some(uri) = convert::uri(&d.path) {
                client.publish_diagnostics(uri, vec![convert::diagnostic(d)], None).await;
            }
        }
        match now {
            Some(e) => {
                let text = format!(
                    "docker-rebuilder: the compose project in {} does not load, so none of its services \
                     builds: {}",
                    folder.display(),
                    e.one_line()
                );
                client.show_message(MessageType::ERROR, text).await;
            }
            None => {
                let text = format!("docker-rebuilder: the compose project in {} loads again", folder.display());
                client.log_message(MessageType::INFO, text).await;
            }
        }
    }
}

/// A command the session could not carry out: the cause and the fix, as the client shows it.
fn command_failed(e: &crate::error::Error) -> RpcError {
    let message = e.one_line();
    RpcError { code: tower_lsp_server::jsonrpc::ErrorCode::InternalError, message: message.into(), data: None }
}
