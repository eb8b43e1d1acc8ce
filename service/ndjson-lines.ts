/**
 * Splits an NDJSON upload into lines as its chunks arrive: UTF-8 decoded across chunk
 * boundaries, "\n" or "\r\n" ends a line, the last line needs no newline. Pure (no
 * streams): each chunk's lines are handed to `onLine` before push() returns. Replaces
 * split2 on the ingest path, whose Transform stream and regex split cost ~4% of the
 * ingest CPU (bench/ingest.ts profile).
 */
export class LineSplitter {
  /** The unfinished line's bytes, carried over from the previous chunks. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  /** `maxLength`: a line (or unfinished tail) longer than this throws LineTooLongError. */
  constructor(private readonly maxLength: number) {}

  push(chunk: Buffer, onLine: (line: string) => void): void {
    this.pushSpans(chunk, (text, start, end) => onLine(text.slice(start, end)));
  }

  /**
   * push() without a string per line: each line is handed as text[start, end) of the
   * chunk's text, to be read in place (core/completion-line.ts parseCompletionSpan).
   */
  pushSpans(chunk: Buffer, onSpan: (text: string, start: number, end: number) => void): void {
    // Only whole lines are decoded: a newline byte is never part of a multi-byte UTF-8
    // character, so the bytes after the chunk's last one wait as bytes, and each text
    // read is one flat string (a string concatenated from the tail and the chunk made
    // every look-up into it go through the concatenation: ~0.3 µs a record).
    const last = chunk.lastIndexOf(10);
    if (last === -1) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > this.maxLength) this.checkTail();
      return;
    }
    const whole = chunk.subarray(0, last + 1);
    const bytes = this.pending.length === 0 ? whole : Buffer.concat([...this.pending, whole]);
    this.pending = last + 1 < chunk.length ? [Buffer.from(chunk.subarray(last + 1))] : []; // a copy: the chunk is not ours to keep
    this.pendingBytes = chunk.length - last - 1;
    const text = bytes.toString('utf8');
    let start = 0;
    for (;;) {
      const newline = text.indexOf('\n', start);
      if (newline === -1) break;
      const end = newline > start && text.charCodeAt(newline - 1) === 13 ? newline - 1 : newline;
      if (end - start > this.maxLength) throw new LineTooLongError(this.maxLength);
      onSpan(text, start, end);
      start = newline + 1;
    }
    if (this.pendingBytes > this.maxLength) this.checkTail();
  }

  /** The unfinished line in characters (its bytes may hold more than maxLength characters' worth). */
  private checkTail(): void {
    const tail = Buffer.concat(this.pending).toString('utf8');
    if (tail.length > this.maxLength) throw new LineTooLongError(this.maxLength);
  }

  /** The upload ended: the last line, if it had no newline. */
  end(onLine: (line: string) => void): void {
    this.endSpans((text, start, end) => onLine(text.slice(start, end)));
  }

  endSpans(onSpan: (text: string, start: number, end: number) => void): void {
    const last = Buffer.concat(this.pending).toString('utf8');
    this.pending = [];
    this.pendingBytes = 0;
    if (last.length > this.maxLength) throw new LineTooLongError(this.maxLength);
    if (last.length > 0) onSpan(last, 0, last.charCodeAt(last.length - 1) === 13 ? last.length - 1 : last.length);
  }
}

export class LineTooLongError extends Error {
  constructor(readonly maxLength: number) {
    super(`a line is longer than ${maxLength} characters`);
    this.name = 'LineTooLongError';
  }
}
