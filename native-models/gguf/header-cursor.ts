import type { FileHandle } from 'node:fs/promises';

/**
 * Reads a file front to back through a window of positional reads, so a header can be parsed without loading a
 * multi-gigabyte model. Scalars are read synchronously from the window; the caller asks `need(n)` first and only
 * awaits when the window has run dry — awaiting on every one of a vocabulary's 150k strings would cost more than
 * parsing them.
 */
export class HeaderCursor {
  private static readonly WINDOW_BYTES = 1 << 20;

  private window = Buffer.alloc(0);
  /** File position of window[0]. */
  private windowStart = 0;
  /** The next byte to read, as a file position. */
  position = 0;

  constructor(
    private readonly handle: FileHandle,
    readonly fileSize: number,
    /** Builds the error for "the file ends before the header does"; the parser knows what it was reading. */
    private readonly truncated: (need: number) => Error,
  ) {}

  /** Bytes between the read position and the end of the file. */
  get remaining(): number {
    return this.fileSize - this.position;
  }

  /** True when the next `n` bytes are already in the window (then no await is needed). */
  has(n: number): boolean {
    return this.position + n <= this.windowStart + this.window.length;
  }

  /** Makes the next `n` bytes readable, or throws the truncation error if the file ends first. */
  async need(n: number): Promise<void> {
    if (this.has(n)) return;
    if (n > this.remaining) throw this.truncated(n);
    const size = Math.min(Math.max(n, HeaderCursor.WINDOW_BYTES), this.remaining);
    const next = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await this.handle.read(next, filled, size - filled, this.position + filled);
      // The file shrank under us: report it the same way as a file that was short from the start.
      if (bytesRead === 0) throw this.truncated(n);
      filled += bytesRead;
    }
    this.window = next;
    this.windowStart = this.position;
  }

  private at(n: number): number {
    const offset = this.position - this.windowStart;
    this.position += n;
    return offset;
  }

  u8(): number {
    return this.window.readUInt8(this.at(1));
  }
  i8(): number {
    return this.window.readInt8(this.at(1));
  }
  u16(): number {
    return this.window.readUInt16LE(this.at(2));
  }
  i16(): number {
    return this.window.readInt16LE(this.at(2));
  }
  u32(): number {
    return this.window.readUInt32LE(this.at(4));
  }
  i32(): number {
    return this.window.readInt32LE(this.at(4));
  }
  f32(): number {
    return this.window.readFloatLE(this.at(4));
  }
  f64(): number {
    return this.window.readDoubleLE(this.at(8));
  }
  u64(): bigint {
    return this.window.readBigUInt64LE(this.at(8));
  }
  i64(): bigint {
    return this.window.readBigInt64LE(this.at(8));
  }
  utf8(n: number): string {
    const offset = this.at(n);
    return this.window.toString('utf8', offset, offset + n);
  }
  bytes(n: number): Buffer {
    const offset = this.at(n);
    return this.window.subarray(offset, offset + n);
  }
}
