/**
 * YAML as every consumer reads it: Kubernetes and older compose parsers follow YAML 1.1, where an
 * unquoted `yes`, `on` or `no` is a boolean, so strings like those are written quoted.
 */
import { stringify } from 'yaml';

export function toYaml(value: unknown): string {
  return stringify(value, { version: '1.1', lineWidth: 0 });
}
