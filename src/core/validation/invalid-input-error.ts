/**
 * InvalidInputError is the domain's refusal of bad input: it names the field
 * (as a path in the wire message, e.g. `envelope.topic`) and what limit or rule
 * it broke. The service layer maps it to INVALID_ARGUMENT with an InvalidField
 * detail; the core never knows about wire codes.
 */
export class InvalidInputError extends Error {
  override name = "InvalidInputError";

  constructor(
    /** Path of the offending field in the request message. */
    readonly field: string,
    /** What is wrong, naming the limit where there is one. */
    readonly description: string,
  ) {
    super(`${field}: ${description}`);
  }

  /** The same error with its field path under `prefix` (e.g. `envelopes[3]`). */
  under(prefix: string): InvalidInputError {
    return new InvalidInputError(`${prefix}.${this.field}`, this.description);
  }
}

/**
 * LineageError refuses input that is well-formed but contradicts what the
 * broker already knows (a root mismatch, a cycle, a tree too deep). The service
 * layer answers FAILED_PRECONDITION.
 */
export class LineageError extends InvalidInputError {
  override name = "LineageError";

  /** Stays a LineageError under a prefix, so a batch refusal keeps its FAILED_PRECONDITION. */
  override under(prefix: string): LineageError {
    return new LineageError(`${prefix}.${this.field}`, this.description);
  }
}
