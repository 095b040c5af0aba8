// Imported rather than read at run time, so a bundle of the server (the VS Code extension's) keeps it.
import packageJson from '../package.json' with { type: 'json' };

export const VERSION: string = packageJson.version;
