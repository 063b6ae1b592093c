"""The language server (`mgdsl lsp`): diagnostics, hover, go to definition, symbols and completion over stdio."""
