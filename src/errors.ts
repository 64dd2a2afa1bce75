/**
 * The one typed error for bad input (CLI arguments, specs, config files, API requests).
 * It carries a one-line message for the user; the CLI turns it into an exit code in one place.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(message: string) {
    super(message);
  }
}
