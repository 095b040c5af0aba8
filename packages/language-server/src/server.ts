import { TextDocuments, type Connection } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';

export interface StartServerOptions {}

export function startServer(connection: Connection, _options: StartServerOptions = {}): void {
  const documents = new TextDocuments(TextDocument);
  documents.listen(connection);
  connection.listen();
}
