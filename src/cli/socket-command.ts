import { parseArgs } from "node:util";
import { defaultSocketPath } from "../wire/default-socket-path.js";
import { positionals } from "./cli-options.js";

/** The text of `corrbus socket --help`. */
export const socketHelp = `Usage: corrbus socket [options]

Prints the socket path the broker listens on and clients use by default:
CORRBUS_SOCKET, else $XDG_RUNTIME_DIR/corrbus/corrbus.sock, else
<tmpdir>/corrbus-<uid>/corrbus.sock. It does not ask the broker: corrbus ping
does.

Options:
  --json              {"socket": PATH} instead of the bare path
  -h, --help          this text

Exit codes: 0 printed, 2 usage.

Examples:
  curl --unix-socket "$(corrbus socket)" -H 'Content-Type: application/json' \\
      -d '{}' http://localhost/corrbus.v1.CorrelationService/GetStats
  corrbus socket --json
`;

/** `corrbus socket`: the default socket path, like every other command's flags and exit codes. */
export async function socketCommand(args: string[]): Promise<number> {
  const { values, positionals: given } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(socketHelp);
    return 0;
  }
  positionals(given, []);
  const path = defaultSocketPath();
  process.stdout.write(values.json ? `${JSON.stringify({ socket: path })}\n` : `${path}\n`);
  return 0;
}
