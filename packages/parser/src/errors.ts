/**
 * The package's one error class, for programmer mistakes only (calling the API with arguments of
 * the wrong shape). Problems in `.ww` files are never thrown: they are diagnostics.
 */

const marker = Symbol.for('woodwork.parser.error');

export type WoodworkParserErrorCode = 'INVALID_ARGUMENT' | 'INTERNAL';

export class WoodworkParserError extends Error {
  readonly [marker] = true;
  override readonly name = 'WoodworkParserError';

  constructor(
    readonly code: WoodworkParserErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** True for any WoodworkParserError, also one from another copy of this package. */
  static isInstance(error: unknown): error is WoodworkParserError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
