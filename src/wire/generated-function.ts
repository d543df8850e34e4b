/**
 * Builds a function from source generated out of a descriptor, with the
 * values its source names bound as parameters. Codecs compiled this way have
 * one straight-line body per message: a loop over per-field closures calls a
 * different closure at every site, so V8 can inline none of them, and that
 * indirection was most of the cost of encoding a publish request.
 *
 * Only names this module hands out and values' JSON literals reach the
 * source: nothing of a message's contents does.
 */
export class GeneratedFunction {
  private readonly names: string[] = [];
  private readonly values: unknown[] = [];

  /** A parameter name under which the body may use `value`. */
  bind(value: unknown, hint = "bound"): string {
    const name = `${hint.replace(/[^A-Za-z0-9_]/g, "_")}_${this.names.length}`;
    this.names.push(name);
    this.values.push(value);
    return name;
  }

  /** The value `body` returns, with every bound value in scope. */
  build<T>(body: string): T {
    return new Function(...this.names, body)(...this.values) as T;
  }
}

/** A property access for generated source: names from descriptors are quoted, never pasted. */
export function property(target: string, name: string): string {
  return `${target}[${JSON.stringify(name)}]`;
}
