/**
 * The files a check looks at besides the open document (the pipe, hook and tool modules it names,
 * `.env`), remembered between checks: typing in a large file checks it on every keystroke, and
 * each check asking the disk again about the same few files cost it about as long as the parse.
 * An answer is forgotten when the editor reports a change to watched files
 * (`workspace/didChangeWatchedFiles`) and, for files no watcher covers or an editor that does not
 * report changes, when it is `maxAgeMs` old: the next check after that asks the disk again.
 */
import { access, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { TopologyFiles } from '@woodwork/parser';

interface Remembered<T> {
  readonly at: number;
  readonly answer: Promise<T>;
}

export class RememberedFiles implements TopologyFiles {
  readonly #maxAgeMs: number;
  readonly #exists = new Map<string, Remembered<boolean>>();
  readonly #texts = new Map<string, Remembered<string>>();

  constructor(maxAgeMs = 2000) {
    this.#maxAgeMs = maxAgeMs;
  }

  exists(file: string): Promise<boolean> {
    return this.#remember(this.#exists, file, () =>
      access(file).then(
        () => true,
        () => false,
      ),
    );
  }

  readText(file: string): Promise<string> {
    return this.#remember(this.#texts, file, () => readFile(file, 'utf8'));
  }

  /** Forgets every answer: something on disk changed. */
  forget(): void {
    this.#exists.clear();
    this.#texts.clear();
  }

  #remember<T>(answers: Map<string, Remembered<T>>, file: string, ask: () => Promise<T>): Promise<T> {
    const now = performance.now();
    const known = answers.get(file);
    if (known && now - known.at < this.#maxAgeMs) return known.answer;
    // Paths typed a letter at a time are each looked up once; old answers do not pile up.
    if (answers.size >= 1000) {
      for (const [name, remembered] of answers) if (now - remembered.at >= this.#maxAgeMs) answers.delete(name);
    }
    const answer = ask();
    // A failed read is an answer too (no `.env`); the check that asked handles it.
    answer.catch(() => {});
    answers.set(file, { at: now, answer });
    return answer;
  }
}
