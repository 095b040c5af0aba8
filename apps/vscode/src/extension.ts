/**
 * The Woodwork extension for VS Code. Colouring needs no code: package.json contributes the
 * parser's TextMate grammar and the language configuration. Everything else (diagnostics,
 * completion, hover, navigation, rename, formatting) comes from the Woodwork language server, which
 * this file starts over stdio: the copy bundled at dist/server.js, or the one the
 * `woodwork.server.path` setting names. `woodwork.trace.server` is read by the client itself (it
 * follows the client's id, `woodwork`).
 */
import * as path from 'node:path';
import { commands, window, workspace, type ExtensionContext, type LogOutputChannel } from 'vscode';
import { LanguageClient, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';

let client: LanguageClient | undefined;

export async function activate(context: ExtensionContext): Promise<void> {
  const output = window.createOutputChannel('Woodwork Language Server', { log: true });
  context.subscriptions.push(
    output,
    commands.registerCommand('woodwork.restartServer', () => restart(context, output)),
    workspace.onDidChangeConfiguration(async (change) => {
      if (change.affectsConfiguration('woodwork.server.path')) await restart(context, output);
    }),
  );
  await start(context, output);
}

export async function deactivate(): Promise<void> {
  const running = client;
  client = undefined;
  // A client whose server never started cannot be stopped (vscode-languageclient throws).
  if (running?.isRunning()) await running.stop();
}

async function start(context: ExtensionContext, output: LogOutputChannel): Promise<void> {
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

async function restart(context: ExtensionContext, output: LogOutputChannel): Promise<void> {
  await deactivate();
  await start(context, output);
}

/** The `woodwork.server.path` setting (relative to the first workspace folder), else the bundled server. */
function serverPath(context: ExtensionContext): string {
  const configured = workspace.getConfiguration('woodwork').get<string>('server.path', '').trim();
  if (configured === '') return context.asAbsolutePath(path.join('dist', 'server.js'));
  const folder = workspace.workspaceFolders?.[0]?.uri.fsPath;
  return path.isAbsolute(configured) || folder === undefined ? configured : path.resolve(folder, configured);
}
