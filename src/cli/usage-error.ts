/** A command line that cannot be run as given; the CLI exits with 2. */
export class UsageError extends Error {
  override name = "UsageError";
}
