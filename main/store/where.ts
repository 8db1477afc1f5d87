/** A WHERE clause built from optional filters: fixed SQL fragments, values only as ? parameters. */
export class Where {
  private readonly parts: string[];
  readonly params: (string | number)[] = [];

  constructor(...always: string[]) {
    this.parts = [...always];
  }

  /** Adds `fragment` (with one ?) when `value` is given. */
  when(fragment: string, value: string | number | undefined): this {
    if (value !== undefined) {
      this.parts.push(fragment);
      this.params.push(value);
    }
    return this;
  }

  get sql(): string {
    return this.parts.length > 0 ? `WHERE ${this.parts.join(' AND ')}` : '';
  }
}
