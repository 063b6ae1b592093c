// The mgdsl extension: .mgd highlighting comes from syntaxes/mgdsl.tmLanguage.json; everything else (diagnostics,
// hover, go to definition, symbols, completion) from the language server `mgdsl lsp`, started over stdio.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("mgdsl");
  const [command, ...args] = config.get("server.command", ["mgdsl", "lsp"]);
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "mgdsl" },
      { scheme: "untitled", language: "mgdsl" },
    ],
    initializationOptions: { allowRead: config.get("server.allowRead", []) },
  };
  client = new LanguageClient("mgdsl", "mgdsl language server", serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
