import { ConnectError } from "@connectrpc/connect";
import { SocketPathError } from "../server/index.js";
import { DataDirectoryError } from "../storage/index.js";
import { connectErrorText } from "./cli-client.js";
import { completionCommand, completionHelp } from "./completion-command.js";
import { findCommand, findHelp } from "./find-command.js";
import { journalCommand, journalHelp } from "./journal-command.js";
import { pingCommand, pingHelp } from "./ping-command.js";
import { publishCommand, publishHelp } from "./publish-command.js";
import { StartupInterrupted, serveCommand, serveHelp } from "./serve-command.js";
import { socketCommand, socketHelp } from "./socket-command.js";
import { statsCommand, statsHelp } from "./stats-command.js";
import { subscribeCommand, subscribeHelp } from "./subscribe-command.js";
import { timelineCommand, timelineHelp } from "./timeline-command.js";
import { UsageError } from "./usage-error.js";
import { waitCommand, waitHelp } from "./wait-command.js";
import { workflowCommand, workflowHelp } from "./workflow-command.js";

const help = `Usage: corrbus <command> [options]

corrbus is the local event broker for host-security collectors.

Commands:
  serve       run the broker
  publish     publish one event, plain or in a workflow
  subscribe   print events on topic patterns as they arrive
  wait        wait until a correlation is complete
  find        search events by correlation tags
  timeline    draw a workflow's correlation tree (or write it as HTML)
  workflow    show one correlation: stages, participants, gaps, deliveries
  stats       the broker's counters
  journal     verify or dump the journal
  ping        check that the broker answers (exit 0) and how fast
  socket      print the socket path the broker and clients use by default
  completion  print a bash completion script

"corrbus <command> --help" describes a command, with examples.

Output is for people by default; --json prints JSON lines with proto field
names for scripts (one response per line, or one event per line for
subscribe and find).

Exit codes: 0 ok, 1 error (the broker refused or is unreachable), 2 usage,
3 incomplete (wait ended before the correlation was complete).

Inside the repository, after npm ci, run it as "npx corrbus …"; "npm link"
once puts corrbus itself on the PATH.

Examples:
  corrbus serve &
  corrbus ping
  corrbus publish events.process.started '{"pid":4892}'
  corrbus subscribe 'events.#' --json
  corrbus find --tag investigation_id=INC-12345 --all
  corrbus timeline "$ROOT"
`;

/** Each command's --help text, for the completion script. */
const helps: Record<string, string> = {
  serve: serveHelp,
  publish: publishHelp,
  subscribe: subscribeHelp,
  wait: waitHelp,
  find: findHelp,
  timeline: timelineHelp,
  workflow: workflowHelp,
  stats: statsHelp,
  journal: journalHelp,
  ping: pingHelp,
  socket: socketHelp,
  completion: completionHelp,
};

const commands: Record<string, (args: string[]) => Promise<number>> = {
  serve: serveCommand,
  publish: publishCommand,
  subscribe: subscribeCommand,
  wait: waitCommand,
  find: findCommand,
  timeline: timelineCommand,
  workflow: workflowCommand,
  stats: statsCommand,
  journal: journalCommand,
  ping: pingCommand,
  socket: socketCommand,
  completion: (args) => completionCommand(args, helps),
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
  quietOnClosedPipe();
  try {
    return await command(rest);
  } catch (error) {
    if (error instanceof StartupInterrupted) {
      process.stderr.write(`corrbus ${name}: ${error.message}\n`);
      return 0;
    }
    if (error instanceof ConnectError) {
      process.stderr.write(`corrbus ${name}: ${connectErrorText(error)}\n`);
      return 1;
    }
    if (error instanceof UsageError || isParseArgsError(error)) {
      process.stderr.write(`corrbus ${name}: ${usageText(error as Error)}\n(corrbus ${name} --help lists the options)\n`);
      return 2;
    }
    if (error instanceof SocketPathError || error instanceof DataDirectoryError || isSystemError(error)) {
      process.stderr.write(`corrbus ${name}: ${(error as Error).message}\n`);
      return 1;
    }
    process.stderr.write(`corrbus ${name}: ${error instanceof Error ? error.stack : String(error)}\n`);
    return 1;
  }
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS");
}

/** parseArgs explains at length how to pass "--x" as an argument; the option's name is what matters. */
function usageText(error: Error): string {
  const unknown = /^Unknown option '([^']+)'/.exec(error.message);
  return unknown === null ? error.message : `unknown option ${unknown[1]}`;
}

/** A failed system call (a file that is not there, say): its message says it all. */
function isSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === "string";
}

/**
 * `corrbus subscribe … | head -3`: once the reader is gone there is nobody to
 * tell anything, so the command ends quietly instead of with an EPIPE stack.
 */
function quietOnClosedPipe(): void {
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}
