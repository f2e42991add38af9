/**
 * A mistake of the caller's (a wrong input, a missing file, a name that does not exist), as
 * opposed to a bug in netc. The message says what was wrong and what was expected; the CLI prints
 * it as one line, and library users can tell it apart with `instanceof NetcError`.
 */
export class NetcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetcError";
  }
}
