import { defaultSocketPath } from "../core/default-socket-path.js";
import { SocketPathError } from "../server/index.js";
import { DataDirectoryLockedError } from "../storage/index.js";
import { journalCommand } from "./journal-command.js";
import { serveCommand } from "./serve-command.js";
import { UsageError } from "./usage-error.js";

const help = `Usage: corrbus <command> [options]

corrbus is the local event broker for host-security collectors.

Commands:
  serve     run the broker (corrbus serve --help)
  socket    print the socket path the broker and clients use by default
  journal   verify or dump the journal (corrbus journal --help)

Exit codes: 0 ok, 1 error, 2 usage.
`;

const commands: Record<string, (args: string[]) => Promise<number>> = {
  serve: serveCommand,
  journal: journalCommand,
  socket: async () => {
    process.stdout.write(`${defaultSocketPath()}\n`);
    return 0;
  },
};

/** Runs one `corrbus` command line; answers the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(help);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`corrbus: unknown command "${name}"\n\n${help}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`corrbus ${name}: ${(error as Error).message}\n`);
      return 2;
    }
    if (error instanceof SocketPathError || error instanceof DataDirectoryLockedError) {
      process.stderr.write(`corrbus ${name}: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`corrbus ${name}: ${error instanceof Error ? error.stack : String(error)}\n`);
    return 1;
  }
}

