/**
 * The bench scripts' command line: `--name value` options, `--name` flags, and the
 * words left over (server ids), each option or flag taken off as it is read.
 *
 * @module
 */
export interface CommandLine {
  /** The value after `--name`, or `undefined` when `--name` is not given. */
  option(name: string): string | undefined;
  /** Whether `--name` is given. */
  flag(name: string): boolean;
  /** What no option or flag read so far has taken (server ids). */
  rest(): string[];
}

/** Reads `argv` (this process's arguments by default). */
export function commandLine(argv: string[] = process.argv.slice(2)): CommandLine {
  const args = [...argv];
  return {
    option(name) {
      const at = args.indexOf(`--${name}`);
      return at === -1 ? undefined : args.splice(at, 2)[1];
    },
    flag(name) {
      const at = args.indexOf(`--${name}`);
      if (at !== -1) args.splice(at, 1);
      return at !== -1;
    },
    rest: () => [...args],
  };
}
