/**
 * Every diagnostic code the parser emits, with its default severity and a title. Codes are stable:
 * a code is never reused for another problem, so tools and docs may key on them.
 *
 * WW1xx are syntax problems (found while parsing), WW2xx problems of meaning (found by `analyze`),
 * WW3xx problems of loading (files, `.env`, environment variables). The README's table is checked
 * against this one by a test.
 */

export const diagnosticCodes = {
  WW101: { severity: 'error', title: 'syntax error' },
  WW102: { severity: 'error', title: 'unterminated string' },
  WW103: { severity: 'error', title: 'unterminated block' },
  WW104: { severity: 'error', title: 'unterminated list' },
  WW105: { severity: 'warning', title: 'unknown escape sequence' },
  WW106: { severity: 'error', title: 'invalid unicode escape' },
  WW107: { severity: 'error', title: 'missing separator' },
  WW108: { severity: 'error', title: 'invalid environment reference' },
  WW109: { severity: 'error', title: 'unmatched closing bracket' },
  WW110: { severity: 'error', title: 'invalid declaration' },
  WW111: { severity: 'error', title: 'invalid number' },
  WW112: { severity: 'error', title: 'nesting too deep' },
  WW113: { severity: 'warning', title: '$NAME inside a string' },

  WW201: { severity: 'error', title: 'unknown kind' },
  WW202: { severity: 'error', title: 'unknown type' },
  WW203: { severity: 'error', title: 'ambiguous type' },
  WW204: { severity: 'error', title: 'unsupported component' },
  WW205: { severity: 'error', title: 'duplicate name' },
  WW206: { severity: 'error', title: 'reserved name' },
  WW207: { severity: 'warning', title: 'unknown key' },
  WW208: { severity: 'error', title: 'missing required key' },
  WW209: { severity: 'error', title: 'wrong value type' },
  WW210: { severity: 'error', title: 'unknown reference' },
  WW211: { severity: 'error', title: 'reference to the wrong kind' },
  WW212: { severity: 'error', title: 'construction cycle' },
  WW213: { severity: 'error', title: 'target cannot receive' },
  WW214: { severity: 'error', title: 'more than one bus' },
  WW215: { severity: 'error', title: 'invalid pipe or hook' },
  WW216: { severity: 'error', title: 'path outside the project' },
  WW217: { severity: 'error', title: 'duplicate key' },
  WW218: { severity: 'error', title: 'invalid value' },
  WW219: { severity: 'error', title: 'component in several groups' },
  WW220: { severity: 'warning', title: 'unrouted input' },
  WW221: { severity: 'warning', title: 'one-word type that is also a kind' },

  WW301: { severity: 'error', title: 'environment variable not set' },
  WW302: { severity: 'error', title: 'cannot read file' },
  WW303: { severity: 'error', title: 'module not found' },
  WW304: { severity: 'warning', title: 'invalid .env line' },
  WW305: { severity: 'error', title: 'invalid environment value' },
  WW306: { severity: 'warning', title: 'function not exported' },
} as const satisfies Record<string, { severity: 'error' | 'warning'; title: string }>;

export type DiagnosticCode = keyof typeof diagnosticCodes;

/** The codes the grammar reports. */
export type SyntaxDiagnosticCode = Extract<DiagnosticCode, `WW1${string}`>;
