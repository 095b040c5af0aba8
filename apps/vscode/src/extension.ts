/**
 * The Woodwork extension for VS Code. Colouring needs no code: package.json contributes the
 * parser's TextMate grammar and the language configuration. Everything else (diagnostics,
 * completion, hover, navigation, rename, formatting) comes from the Woodwork language server, which
 * this file starts over stdio: the copy bundled at dist/server.js, or the one the
 * `woodwork.server.path` setting names. `woodwork.trace.server` is read by the client itself (it
 * follows the client's id, `woodwork`).
 */
import * as path from 'node:path';
import { commands, window, workspace, type ExtensionContext, type FileSystemWatcher, type LogOutputChannel } from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

interface Session {
  readonly context: ExtensionContext;
  readonly output: LogOutputChannel;
  readonly watcher: FileSystemWatcher;
}

export async function activate(context: ExtensionContext): Promise<void> {
  const session: Session = {
    context,
    output: window.createOutputChannel('Woodwork Language Server', { log: true }),
    // The files a topology names besides itself: pipe and hook modules (the extensions of the
    // parser's moduleLanguageOf) and `.env`. When one appears, changes or goes, the server checks
    // the open .ww files again.
    watcher: workspace.createFileSystemWatcher('**/{*.js,*.mjs,*.cjs,*.ts,*.mts,*.cts,*.py,.env}'),
  };
  context.subscriptions.push(
    session.output,
    session.watcher,
    commands.registerCommand('woodwork.restartServer', () => restart(session)),
    workspace.onDidChangeConfiguration(async (change) => {
      if (change.affectsConfiguration('woodwork.server.path')) await restart(session);
    }),
  );
  await start(session);
}

export async function deactivate(): Promise<void> {
  const running = client;
  client = undefined;
  // A client whose server never started cannot be stopped (vscode-languageclient throws).
  if (running?.isRunning()) await running.stop();
}

async function start({ context, output, watcher }: Session): Promise<void> {
  const serverModule = serverPath(context);
  output.info(`starting ${serverModule}`);
  // The server speaks stdio only; `module` runs it with the editor's own Node, so users need none.
  const serverOptions: ServerOptions = {
    run: { module: serverModule, transport: TransportKind.stdio },
    debug: { module: serverModule, transport: TransportKind.stdio, options: { execArgv: ['--nolazy', '--inspect=6009'] } },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: 'file', language: 'ww' },
      { scheme: 'untitled', language: 'ww' },
    ],
    synchronize: { fileEvents: watcher },
    outputChannel: output,
  };
  client = new LanguageClient('woodwork', 'Woodwork Language Server', serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    // A wrong `woodwork.server.path` is the likely cause; say where to fix it instead of failing quietly.
    const message = error instanceof Error ? error.message : String(error);
    void window.showErrorMessage(`The Woodwork language server (${serverModule}) did not start: ${message}. Check the woodwork.server.path setting.`);
  }
}

async function restart(session: Session): Promise<void> {
  await deactivate();
  await start(session);
}

/** The `woodwork.server.path` setting (relative to the first workspace folder), else the bundled server. */
function serverPath(context: ExtensionContext): string {
  const configured = workspace.getConfiguration('woodwork').get<string>('server.path', '').trim();
  if (configured === '') return context.asAbsolutePath(path.join('dist', 'server.js'));
  const folder = workspace.workspaceFolders?.[0]?.uri.fsPath;
  return path.isAbsolute(configured) || folder === undefined ? configured : path.resolve(folder, configured);
}
