import fs from 'node:fs';
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { AppError } from '../errors.js';

export interface JsonlLine {
  /** 1-based line number in the file. */
  lineNo: number;
  value: unknown;
}

export interface JsonlProgress {
  linesRead: number;
  bytesRead: number;
  totalBytes: number;
}

export interface ReadJsonlOptions {
  signal?: AbortSignal;
  onProgress?: (p: JsonlProgress) => void;
  /** A malformed line is reported here and reading goes on. */
  onBadLine: (lineNo: number, reason: string) => void;
}

export interface JsonlSummary {
  sha256: string;
  linesRead: number;
  bytes: number;
}

const SNIFF_BYTES = 8192;

/** How many bad lines an error lists before it says "and N more". */
const MAX_LISTED_ERRORS = 20;

/**
 * Collects every malformed line of a file so the person sees all problems at once, then fails
 * with one error that lists the first of them.
 */
export class BadLines {
  private readonly listed: string[] = [];
  private count = 0;

  readonly add = (lineNo: number, reason: string): void => {
    this.count += 1;
    if (this.listed.length < MAX_LISTED_ERRORS) this.listed.push(`line ${lineNo}: ${reason}`);
  };

  /** `consequence` says what did not happen ("nothing was imported"). */
  throwIfAny(file: string, consequence: string, hint: string): void {
    if (this.count === 0) return;
    const more = this.count > this.listed.length ? [`… and ${this.count - this.listed.length} more`] : [];
    throw new AppError('INVALID_LINES',
      `${file}: ${this.count} malformed ${this.count === 1 ? 'line' : 'lines'} (first: ${this.listed[0]}); ${consequence}`,
      hint, [...this.listed, ...more]);
  }
}

/**
 * Why a line is not JSON, without quoting it: V8's own message repeats the start of the text, and
 * errors travel to clients of server mode, who must not read a file back through them.
 */
function whereJsonFails(e: unknown): string {
  const message = e instanceof Error ? e.message : '';
  const at = /at position (\d+)/.exec(message)?.[1];
  if (at !== undefined) return ` (at column ${Number(at) + 1})`;
  return /end of JSON input/.test(message) ? ' (it ends early)' : '';
}

/**
 * Streams a JSON Lines file, one object per non-blank line, without loading it whole.
 * A file that is not JSONL at all (binary, not UTF-8, or whose first line is not a JSON object)
 * is one error; after that, each bad line goes to `onBadLine` with its number and reading continues
 * so that the person sees every problem at once. Returns the file's sha256, for idempotent imports.
 */
export async function* readJsonl(file: string, options: ReadJsonlOptions): AsyncGenerator<JsonlLine, JsonlSummary> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
  } catch {
    throw new AppError('NOT_FOUND', `${file} does not exist`, 'check the path and try again');
  }
  if (!stat.isFile()) throw new AppError('BAD_INPUT', `${file} is not a file`, 'give the path of a .jsonl file');

  const hash = createHash('sha256');
  const decoder = new StringDecoder('utf8');
  const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });
  let pending = '';
  let lineNo = 0;
  let linesRead = 0;
  let bytesRead = 0;
  let sawFirstObject = false;
  let lastProgress = 0;

  const parseLine = (raw: string): JsonlLine | undefined => {
    lineNo += 1;
    const text = (lineNo === 1 ? raw.replace(/^\uFEFF/, '') : raw).replace(/\r$/, '');
    if (text.trim() === '') return undefined;
    linesRead += 1;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      if (!sawFirstObject) {
        throw new AppError('NOT_JSONL', `${file} is not a JSONL file: line ${lineNo} is not JSON${whereJsonFails(e)}`,
          text.trim().startsWith('[')
            ? 'it looks like a JSON array; write one JSON object per line instead'
            : 'each line must be one JSON object, e.g. {"task_id": 1, ...}');
      }
      options.onBadLine(lineNo, `not valid JSON${whereJsonFails(e)}`);
      return undefined;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      if (!sawFirstObject) {
        throw new AppError('NOT_JSONL', `${file} is not a JSONL file: line ${lineNo} is not a JSON object`,
          'each line must be one JSON object, e.g. {"task_id": 1, ...}');
      }
      options.onBadLine(lineNo, `expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
      return undefined;
    }
    sawFirstObject = true;
    return { lineNo, value };
  };

  const stream = fs.createReadStream(file, { highWaterMark: 1 << 16 });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      options.signal?.throwIfAborted();
      if (bytesRead === 0) {
        const head = chunk.subarray(0, SNIFF_BYTES);
        if (head.includes(0)) {
          throw new AppError('NOT_JSONL', `${file} is a binary file, not JSONL`, 'choose a text file with one JSON object per line');
        }
        try {
          // A multi-byte character cut at the sniff boundary is fine; invalid bytes before it are not.
          fatalUtf8.decode(head, { stream: true });
        } catch {
          throw new AppError('NOT_JSONL', `${file} is not UTF-8 text, so it is not JSONL`, 'save the file as UTF-8 with one JSON object per line');
        }
      }
      bytesRead += chunk.length;
      hash.update(chunk);
      pending += decoder.write(chunk);
      let start = 0;
      let nl: number;
      while ((nl = pending.indexOf('\n', start)) >= 0) {
        const line = parseLine(pending.slice(start, nl));
        start = nl + 1;
        if (line) yield line;
      }
      pending = pending.slice(start);
      if (options.onProgress && (bytesRead === stat.size || Date.now() - lastProgress > 100)) {
        lastProgress = Date.now();
        options.onProgress({ linesRead, bytesRead, totalBytes: stat.size });
      }
    }
    pending += decoder.end();
    if (pending.length > 0) {
      const line = parseLine(pending);
      if (line) yield line;
    }
  } finally {
    stream.destroy();
  }
  options.onProgress?.({ linesRead, bytesRead, totalBytes: stat.size });
  return { sha256: hash.digest('hex'), linesRead, bytes: bytesRead };
}
