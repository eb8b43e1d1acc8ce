import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a JSON array upload into the text of each element as its chunks arrive, so a
 * JSON-array completion upload is read like NDJSON (each element parsed and dropped as it
 * comes) instead of being held and parsed whole. Pure (no streams): each chunk's
 * complete elements are handed to `onElement` before push() returns.
 *
 * It only finds where each element begins and ends: strings (with their escapes) and
 * nesting depth are followed so a comma or bracket inside an element is not taken for
 * the array's own; whether an element's text is valid JSON is left to the parser it is
 * handed to. Around the elements it checks the array's own grammar (`[`, commas, `]`,
 * whitespace, nothing after), so a body is accepted exactly when JSON.parse of the whole
 * would accept it and give an array (a test compares the two on many shapes).
 */
export class JsonArraySplitter {
  private readonly decoder = new StringDecoder('utf8');
  /** Text not yet handed out: the current element's start onwards, or nothing. */
  private text = '';
  /** Where scanning resumes in `text`. */
  private pos = 0;
  private state: 'start' | 'first' | 'next' | 'value' | 'done' = 'start';
  /** Inside the current element: nesting depth, inside a string. */
  private depth = 0;
  private inString = false;
  /** Elements handed out so far (the index of the current one). */
  count = 0;

  /** `maxElementChars`: an element longer than this throws (as NDJSON's line limit). */
  constructor(private readonly maxElementChars: number) {}

  /**
   * `readInPlace` (optional): offered each element where it starts, before the element
   * is scanned for its end; it may read the element itself and return the position of
   * the `,` or `]` after it (the element is then not handed to onElement), or -1.
   * (service/routes/completions.ts reads records in the senders' form so: walking every
   * character of an element to find its end cost ~1.6 µs of a record's ~5.)
   */
  push(chunk: Buffer, onElement: (text: string, index: number) => void, readInPlace?: (text: string, start: number, index: number) => number): void {
    this.text += this.decoder.write(chunk);
    this.scan(onElement, readInPlace);
  }

  /** The upload ended: it must have closed the array. */
  end(onElement: (text: string, index: number) => void): void {
    this.text += this.decoder.end();
    this.scan(onElement);
    if (this.state === 'start') throw new JsonArrayShapeError('the body is empty, not a JSON array', null);
    if (this.state !== 'done') throw new JsonArrayShapeError('the array ends before its closing "]"', this.count);
  }

  private scan(onElement: (text: string, index: number) => void, readInPlace?: (text: string, start: number, index: number) => number): void {
    const text = this.text;
    const n = text.length;
    let i = this.pos;
    /** Where the current element's text begins (in the value state). */
    let start = 0;
    while (i < n) {
      if (this.state === 'value') {
        if (this.inString) {
          // the closing quote: the next one not escaped (an odd run of backslashes before it)
          let quote = text.indexOf('"', i);
          while (quote !== -1 && backslashesBefore(text, quote) % 2 === 1) quote = text.indexOf('"', quote + 1);
          if (quote === -1) {
            i = n;
            break;
          }
          this.inString = false;
          i = quote + 1;
          continue;
        }
        const c = text.charCodeAt(i);
        if (c === 34 /* " */) this.inString = true;
        else if (c === 123 /* { */ || c === 91 /* [ */) this.depth++;
        else if ((c === 125 /* } */ || c === 93) /* ] */ && this.depth > 0) this.depth--;
        else if (this.depth === 0 && (c === 44 /* , */ || c === 93 /* ] */)) {
          const element = text.slice(start, i).trimEnd();
          if (element.length > this.maxElementChars) {
            throw new JsonArrayShapeError(`element ${this.count} is longer than ${this.maxElementChars} characters`, this.count);
          }
          if (element.length === 0) throw new JsonArrayShapeError(`element ${this.count} is empty`, this.count);
          onElement(element, this.count++);
          this.state = c === 44 ? 'next' : 'done';
        }
        i++;
        continue;
      }
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) {
        i++;
        continue;
      }
      switch (this.state) {
        case 'start':
          if (c === 0xfeff && i === 0) {
            i++; // a byte-order mark, as Fastify's JSON parser allowed
            continue;
          }
          if (c !== 91) throw new JsonArrayShapeError('the body is not a JSON array', null);
          this.state = 'first';
          i++;
          continue;
        case 'first':
        case 'next':
          if (c === 93 && this.state === 'first') {
            this.state = 'done';
            i++;
            continue;
          }
          if (c === 44 || c === 93) throw new JsonArrayShapeError(`element ${this.count} is empty`, this.count);
          if (readInPlace !== undefined) {
            const separator = readInPlace(text, i, this.count);
            if (separator !== -1) {
              if (separator - i > this.maxElementChars) {
                throw new JsonArrayShapeError(`element ${this.count} is longer than ${this.maxElementChars} characters`, this.count);
              }
              this.count++;
              this.state = text.charCodeAt(separator) === 44 ? 'next' : 'done';
              i = separator + 1;
              continue;
            }
          }
          // an element starts here (this character is read again in the value state)
          this.state = 'value';
          this.depth = 0;
          this.inString = false;
          start = i;
          continue;
        case 'done':
          throw new JsonArrayShapeError('text follows the closing "]" of the array', null);
      }
    }
    if (this.state === 'value') {
      // keep the unfinished element only
      this.text = start === 0 ? text : text.slice(start);
      this.pos = i - start;
      if (this.text.length > this.maxElementChars) {
        throw new JsonArrayShapeError(`element ${this.count} is longer than ${this.maxElementChars} characters`, this.count);
      }
    } else {
      this.text = '';
      this.pos = 0;
    }
  }
}

function backslashesBefore(text: string, at: number): number {
  let k = at - 1;
  while (k >= 0 && text.charCodeAt(k) === 92) k--;
  return at - 1 - k;
}

/** The array's own grammar is broken; `index`: the element where, null before the first. */
export class JsonArrayShapeError extends Error {
  constructor(
    message: string,
    readonly index: number | null,
  ) {
    super(message);
    this.name = 'JsonArrayShapeError';
  }
}
