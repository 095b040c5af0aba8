/**
 * Source locations and the line index that computes them from offsets. Lines and columns are
 * 1-based; columns count UTF-16 code units (what editors and the Language Server Protocol use).
 */

export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** 0-based offset of the first character. */
  readonly offset: number;
  readonly endLine: number;
  readonly endColumn: number;
  /** 0-based offset just past the last character. */
  readonly endOffset: number;
}

/** Maps offsets to lines and columns with a binary search over line starts, built once per file. */
export class LineIndex {
  readonly #lineStarts: number[] = [0];

  constructor(readonly text: string) {
    for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) {
      this.#lineStarts.push(at + 1);
    }
  }

  /** The line of the last lookup: the parser asks in nearly increasing order, so start there. */
  #lastLine = 0;

  /** 0-based line of an offset. */
  lineOf(offset: number): number {
    const starts = this.#lineStarts;
    const last = this.#lastLine;
    if (offset >= (starts[last] as number) && (last + 1 >= starts.length || offset < (starts[last + 1] as number))) return last;
    if (last + 2 < starts.length && offset >= (starts[last + 1] as number) && offset < (starts[last + 2] as number)) {
      return (this.#lastLine = last + 1);
    }
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((starts[middle] as number) <= offset) low = middle;
      else high = middle - 1;
    }
    this.#lastLine = low;
    return low;
  }

  locate(file: string, start: number, end: number): SourceLocation {
    const clampedStart = Math.max(0, Math.min(start, this.text.length));
    const clampedEnd = Math.max(clampedStart, Math.min(end, this.text.length));
    const line = this.lineOf(clampedStart);
    const nextLineStart = this.#lineStarts[line + 1];
    const endLine = nextLineStart === undefined || clampedEnd < nextLineStart ? line : this.lineOf(clampedEnd);
    return {
      file,
      line: line + 1,
      column: clampedStart - (this.#lineStarts[line] as number) + 1,
      offset: clampedStart,
      endLine: endLine + 1,
      endColumn: clampedEnd - (this.#lineStarts[endLine] as number) + 1,
      endOffset: clampedEnd,
    };
  }

  /** The text of a 1-based line, without its line break. */
  lineText(line: number): string {
    const start = this.#lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.#lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  get lineCount(): number {
    return this.#lineStarts.length;
  }
}
