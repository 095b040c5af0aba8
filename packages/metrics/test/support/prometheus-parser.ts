/**
 * Parses Prometheus text exposition with Prometheus' own parser (`expfmt` from
 * github.com/prometheus/common), built once from ./promparse with the machine's Go toolchain.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ParsedSample {
  labels: Record<string, string>;
  value?: number;
  count?: number;
  sum?: number;
  buckets?: { upperBound: string; cumulativeCount: number }[];
}
export interface ParsedFamily {
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  help: string;
  samples: ParsedSample[];
}

const source = path.join(path.dirname(fileURLToPath(import.meta.url)), 'promparse');
let binary: string | undefined;

export function buildPrometheusParser(): void {
  if (binary) return;
  const output = path.join(mkdtempSync(path.join(tmpdir(), 'ww-promparse-')), 'promparse');
  try {
    execFileSync('go', ['build', '-o', output, '.'], { cwd: source, stdio: 'pipe', timeout: 240_000 });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`building the Prometheus text parser (Go) failed; is Go installed? ${stderr || String(error)}`);
  }
  binary = output;
}

export function parsePrometheusText(text: string): Record<string, ParsedFamily> {
  buildPrometheusParser();
  return JSON.parse(execFileSync(binary!, { input: text, encoding: 'utf8', timeout: 30_000 }));
}
