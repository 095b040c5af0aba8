/**
 * Validates JSON read off a broker by its own plain client against the published JSON Schema
 * (`@woodwork/bus/schema`), with ajv — an independent validator, so the check does not just
 * repeat our own `checkEnvelope`. ajv and ajv-formats are loaded on first use; install them as
 * dev dependencies to use this helper.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

type Validate = ((value: unknown) => boolean) & {
  errors?: { instancePath: string; message?: string }[] | null;
};

let validate: Validate | undefined;

function compile(): Validate {
  const require = createRequire(import.meta.url);
  let Ajv2020: new (options: object) => { compile(schema: object): Validate };
  let addFormats: (ajv: object) => void;
  try {
    const ajvModule = require('ajv/dist/2020') as { default?: typeof Ajv2020 } & typeof Ajv2020;
    Ajv2020 = ajvModule.default ?? ajvModule;
    const formatsModule = require('ajv-formats') as { default?: typeof addFormats } & typeof addFormats;
    addFormats = formatsModule.default ?? formatsModule;
  } catch (error) {
    throw new Error('install ajv and ajv-formats to use assertMatchesEnvelopeSchema (npm install -D ajv ajv-formats)', {
      cause: error,
    });
  }
  // The schema ships at <package>/schema/; this file is <package>/src/testing/ or <package>/dist/testing/.
  const schema = JSON.parse(readFileSync(new URL('../../schema/envelope.schema.json', import.meta.url), 'utf8')) as object;
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  return ajv.compile(schema);
}

/** Throws, listing every violation, unless `json` (already parsed) is a valid envelope. */
export function assertMatchesEnvelopeSchema(json: unknown): void {
  validate ??= compile();
  if (validate(json)) return;
  const problems = (validate.errors ?? []).map((error) => `${error.instancePath || '(root)'} ${error.message ?? ''}`.trim());
  throw new Error(`not a valid Woodwork envelope: ${problems.join('; ')}\n${JSON.stringify(json).slice(0, 500)}`);
}
