/**
 * Request bodies: JSON objects only. An empty body reads as `{}` whatever its type (a bare
 * `POST /v1/sessions`); anything else must say `application/json` (415 otherwise) and parse (400).
 * The size limit is enforced before this runs (`bodyLimit`, 413).
 */
import type { Context } from 'hono';
import { GatewayRequestError } from './http-error.js';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  const type = c.req.header('content-type') ?? '';
  if (!JSON_TYPE.test(type)) {
    throw new GatewayRequestError('unsupported_media_type', `the body must be application/json${type ? `, not ${type.split(';')[0]}` : ' (no Content-Type was sent)'}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new GatewayRequestError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GatewayRequestError('invalid_request', 'the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
