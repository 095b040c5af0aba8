/**
 * @woodwork/language-server — the Language Server Protocol for `.ww` files, on @woodwork/parser so
 * the editor and `woodwork validate` can never disagree. This file is the package's whole public face.
 */
export { startServer } from './server.js';
